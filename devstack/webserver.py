"""A static server for web/ that also answers /config.json with this stack's API address."""

from __future__ import annotations

import argparse
import functools
import json
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Handler(SimpleHTTPRequestHandler):
    config_body: bytes = b"{}"

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] == "/config.json":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Length", str(len(self.config_body)))
            self.end_headers()
            self.wfile.write(self.config_body)
            return
        super().do_GET()

    def end_headers(self) -> None:
        # The page must not be framed or leak its URL (job ids) to other sites.
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("X-Frame-Options", "DENY")
        super().end_headers()

    def log_message(self, fmt: str, *args: Any) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--api-base", required=True)
    parser.add_argument("--max-bytes", type=int, required=True)
    args = parser.parse_args()
    config = {"api_base": args.api_base, "max_bytes": args.max_bytes}
    Handler.config_body = json.dumps(config).encode()
    Handler.extensions_map = {
        **Handler.extensions_map,
        ".js": "text/javascript",
        ".mjs": "text/javascript",
    }
    handler = functools.partial(Handler, directory=args.root)
    ThreadingHTTPServer(("127.0.0.1", args.port), handler).serve_forever()


if __name__ == "__main__":
    main()
