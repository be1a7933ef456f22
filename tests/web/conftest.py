"""Fixtures for the browser tests: Debian's Chromium driven by Playwright, the page served from
web/ by a tiny static server with its own config.json, and test pictures from registry packages."""

from __future__ import annotations

import json
import subprocess
import tarfile
import threading
from collections.abc import Callable, Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, expect, sync_playwright

from tests.support.corpus import skimage_path
from tests.web.fake_api import FakeApi
from tests.web.pagekit import CACHE, CHROMIUM, CHROMIUM_ARGS, WAIT_MS, WEB

# expect() waits 5 s by default; on a busy 2-core machine that is too tight for a decode.
expect.set_options(timeout=WAIT_MS)

AXE = "axe-core@4.14.1"


class _PageHandler(SimpleHTTPRequestHandler):
    """Serves web/ as it is, plus config.json from memory (never a file in web/)."""

    config: dict[str, Any] | None = None
    extra_headers: dict[str, str] | None = None

    def end_headers(self) -> None:
        for name, value in (self.extra_headers or {}).items():
            self.send_header(name, value)
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.path.split("?")[0] == "/config.json":
            if self.config is None:
                self.send_error(404)
                return
            body = json.dumps(self.config).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()


def _serve(
    config: dict[str, Any] | None, headers: dict[str, str] | None = None
) -> ThreadingHTTPServer:
    handler = type("Handler", (_PageHandler,), {"config": config, "extra_headers": headers})
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(WEB)))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def serve_page() -> Iterator[Callable[..., str]]:
    """Starts a static server for web/ with the given config.json (and extra response
    headers); returns the page's URL."""
    servers: list[ThreadingHTTPServer] = []

    def start(config: dict[str, Any] | None, headers: dict[str, str] | None = None) -> str:
        server = _serve(config, headers)
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def fake_api() -> Iterator[FakeApi]:
    api = FakeApi().start()
    yield api
    api.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` (scripts/install-browser.sh)")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def new_context(browser: Browser) -> Iterator[Callable[..., BrowserContext]]:
    """Makes browser contexts (desktop by default) and closes them after the test."""
    contexts: list[BrowserContext] = []

    def make(
        locale: str = "en-US",
        width: int = 1280,
        height: int = 900,
        phone: bool = False,
        timezone: str | None = None,
    ) -> BrowserContext:
        options: dict[str, Any] = {
            "locale": locale,
            "viewport": {"width": width, "height": height},
            "accept_downloads": True,
        }
        if timezone:
            options["timezone_id"] = timezone
        if phone:
            options.update(
                viewport={"width": 375, "height": 740},
                device_scale_factor=2,
                is_mobile=True,
                has_touch=True,
            )
        context = browser.new_context(**options)
        context.set_default_timeout(WAIT_MS)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


@pytest.fixture(scope="session")
def skimage_data() -> Callable[[str], Path]:
    """Pictures from scikit-image's wheel (astronaut.png has a face; coffee.png has none)."""

    return skimage_path


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core, the accessibility checker, from the npm registry (cached)."""
    target: Path = CACHE / "axe" / "axe.min.js"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["npm", "pack", AXE, "--silent", "--pack-destination", str(target.parent)],
            check=True,
            capture_output=True,
        )
        tgz = next(target.parent.glob("axe-core-*.tgz"))
        with tarfile.open(tgz) as tf:
            member = tf.extractfile("package/axe.min.js")
            assert member is not None
            target.write_bytes(member.read())
    return target.read_text()
