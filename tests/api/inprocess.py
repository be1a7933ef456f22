"""The upload function in-process: functions/upload/main.py's real app (functions-framework's
routing and error handlers, the real `Api` and `UploadService`) on the in-memory fakes of
tests/fakes/, called through a werkzeug test client. No emulator, no socket."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import functions_framework
from werkzeug.test import TestResponse

from devstack.keys import ensure_signing_key
from gazokako.api import Api
from gazokako.config import Config
from gazokako.uploads import UploadService
from tests.fakes import FakeClients

ROOT = Path(__file__).resolve().parents[2]

# The dev stack's limits (devstack/stack.py), so a test's many requests are not rate limited.
CONFIG = Config(
    project="fake-project",
    uploads_bucket="uploads",
    results_bucket="results",
    storage_public_url="http://127.0.0.1:9",
    rate_limit_per_minute=3000,
    rate_limit_burst=500,
    rate_limit_reads_per_minute=30000,
    rate_limit_reads_burst=2000,
    trusted_proxy_hops=0,
)


class Response:
    """The parts of a `requests.Response` the API tests read."""

    def __init__(self, raw: TestResponse) -> None:
        self.status_code = raw.status_code
        self.headers = raw.headers
        self.content = raw.get_data()
        self.text = raw.get_data(as_text=True)

    def json(self) -> Any:
        return json.loads(self.content)


class InProcessApi:
    """Requests to the upload function, answered in this process."""

    def __init__(self, key_dir: Path, **config: Any) -> None:
        key = ensure_signing_key(key_dir / "signing-key.json", CONFIG.project)
        self.config = replace(CONFIG, local_signing_key_file=str(key), **config)
        self.clients = FakeClients(self.config)
        app = functions_framework.create_app(
            target="upload_api", source=str(ROOT / "functions" / "upload" / "main.py")
        )
        # create_app has just loaded the entry point as the module "main"; its instance's Api
        # is made here on the fakes instead of on default_clients().
        sys.modules["main"]._api = Api(UploadService(self.clients))  # type: ignore[attr-defined]
        self._client = app.test_client()

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        environ: Mapping[str, Any] | None = None,
    ) -> Response:
        kwargs: dict[str, Any] = {"method": method, "headers": dict(headers or {})}
        if json is not None:
            kwargs["json"] = json
        if data is not None:
            kwargs["data"] = data
        if environ is not None:
            kwargs["environ_overrides"] = dict(environ)
        return Response(self._client.open(path, **kwargs))

    def post(self, path: str, **kwargs: Any) -> Response:
        return self.request("POST", path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Response:
        return self.request("GET", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Response:
        return self.request("DELETE", path, **kwargs)


def logged_events(out: str) -> Iterator[dict[str, Any]]:
    """The structured log lines in captured stdout."""
    for line in out.splitlines():
        if line.startswith("{"):
            yield json.loads(line)
