"""What a client sees when the server, not the client, fails: a bare 500 or a 503, never a
trace. Faults are injected into the service in-process; the HTTP edge is the real one."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import flask
import pytest

from gazokako.api import UNAVAILABLE_MESSAGE, Api
from gazokako.config import Config
from gazokako.errors import TransientError
from gazokako.uploads import UploadService

JOB_ID = "Q" * 20 + "abcdefghij_-"
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

    def delete_job(self, job_id: str) -> None:
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


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/uploads", {"content_type": "image/png", "size": 1}),
        ("GET", "/jobs/" + JOB_ID, None),
        ("DELETE", "/jobs/" + JOB_ID, None),
    ],
)
def test_platform_failure_is_a_generic_503_and_its_detail_goes_to_the_log(
    method: str, path: str, body: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # What the client libraries say: hosts, document paths and object names, ids among them.
    detail = f"503 GET https://storage.example/b/u/o/u%2F{JOB_ID}%2Fsource: backend busy"
    resp = _call(FailingService(TransientError(detail)), method, path, body)
    assert resp.status_code == 503
    assert resp.get_json() == {"error": {"code": "unavailable", "message": UNAVAILABLE_MESSAGE}}
    assert b"backend busy" not in resp.data and JOB_ID.encode() not in resp.data
    out = capsys.readouterr().out
    logged = [json.loads(line) for line in out.splitlines()]
    errors = [e for e in logged if e["event"] == "api.error"]
    assert [e["status"] for e in errors] == [503]
    # The detail is logged for the operator, without the id.
    assert "backend busy" in errors[0]["detail"] and "storage.example" in errors[0]["detail"]
    assert JOB_ID not in out
