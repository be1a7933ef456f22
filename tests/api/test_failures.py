"""What a client sees when the server, not the client, fails: a bare 500 or a 503, never a
trace. Faults are injected into the service in-process; the HTTP edge is the real one."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import flask
import pytest

from gazokako.api import Api
from gazokako.config import Config
from gazokako.errors import TransientError
from gazokako.uploads import UploadService

CONFIG = Config(project="p", uploads_bucket="u", results_bucket="r", rate_limit_per_minute=0)


class FailingService(UploadService):
    """An UploadService whose every call fails with `fault` (no cloud clients are built)."""

    def __init__(self, fault: Exception) -> None:
        self.config = CONFIG
        self.fault = fault

    def issue_upload_url(self, body: Mapping[str, Any], *, base_url: str) -> dict[str, Any]:
        raise self.fault

    def describe_job(self, job_id: str) -> dict[str, Any]:
        raise self.fault


def _call(service: UploadService, method: str, path: str, body: Any = None) -> flask.Response:
    app = flask.Flask("t")
    with app.test_request_context(path, method=method, json=body):
        return Api(service).respond(flask.request)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/uploads", {"content_type": "image/png", "size": 1}),
        ("GET", "/jobs/" + "A" * 32, None),
    ],
)
def test_crash_is_a_bare_500_and_its_trace_goes_to_the_log(
    method: str, path: str, body: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    resp = _call(FailingService(KeyError("secret-internal-detail")), method, path, body)
    assert resp.status_code == 500
    assert resp.get_json() == {"error": {"code": "internal", "message": "internal error"}}
    assert b"secret-internal-detail" not in resp.data and b"Traceback" not in resp.data
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    crash = [e for e in logged if e["event"] == "api.crash"]
    assert crash and "secret-internal-detail" in crash[0]["stack_trace"]
    assert crash[0]["severity"] == "ERROR"


def test_platform_failure_is_503(capsys: pytest.CaptureFixture[str]) -> None:
    resp = _call(FailingService(TransientError("firestore said 503")), "GET", "/jobs/x")
    assert resp.status_code == 503
    assert resp.get_json()["error"]["code"] == "unavailable"
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["status"] for e in logged if e["event"] == "api.error"] == [503]
