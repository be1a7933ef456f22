"""HTTP routing for the upload API: path and method to service call, result or error to JSON."""

from __future__ import annotations

import json
import traceback
from typing import Any

import flask

from gazokako.errors import GazokakoError, InvalidRequest, MethodNotAllowed, NotFound
from gazokako.logs import log_event
from gazokako.uploads import UploadService

_ALLOWED_METHODS = "GET, POST, DELETE, OPTIONS"
_ALLOWED_HEADERS = "Content-Type"
_MAX_BODY_BYTES = 16_384


def _cors_headers(service: UploadService, origin: str | None) -> dict[str, str]:
    if not origin or origin not in service.config.allowed_origins:
        return {}
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Methods": _ALLOWED_METHODS,
        "Access-Control-Allow-Headers": _ALLOWED_HEADERS,
        "Access-Control-Max-Age": "600",
        "Vary": "Origin",
    }


def _json_body(request: flask.Request) -> dict[str, Any]:
    if request.content_length is not None and request.content_length > _MAX_BODY_BYTES:
        raise InvalidRequest("request body too large")
    raw = request.get_data(cache=False)
    if len(raw) > _MAX_BODY_BYTES:
        raise InvalidRequest("request body too large")
    try:
        body = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequest("body must be JSON") from exc
    if not isinstance(body, dict):
        raise InvalidRequest("body must be a JSON object")
    return body


def _route(request: flask.Request, service: UploadService) -> tuple[int, Any]:
    parts = [p for p in request.path.split("/") if p]
    method = request.method
    if parts == ["uploads"]:
        if method != "POST":
            raise MethodNotAllowed("use POST /uploads")
        return 201, service.issue_upload_url(_json_body(request), base_url=request.host_url)
    if len(parts) == 2 and parts[0] == "jobs":
        if method == "GET":
            return 200, service.describe_job(parts[1])
        if method == "DELETE":
            service.delete_job(parts[1])
            return 204, None
        raise MethodNotAllowed("use GET or DELETE /jobs/{id}")
    raise NotFound("no such route")


def respond(request: flask.Request, service: UploadService) -> flask.Response:
    cors = _cors_headers(service, request.headers.get("Origin"))
    if request.method == "OPTIONS":
        return flask.Response(status=204, headers=cors)
    try:
        status, body = _route(request, service)
    except GazokakoError as exc:
        status, body = exc.http_status, exc.to_json()
        log_event(
            "api.error",
            severity="WARNING" if status < 500 else "ERROR",
            code=exc.code,
            status=status,
            path=request.path,
        )
    except Exception:  # never leak a stack trace to the client; log it instead
        log_event(
            "api.crash", severity="ERROR", path=request.path, stack_trace=traceback.format_exc()
        )
        status = 500
        body = {"error": {"code": "internal", "message": "internal error"}}
    if body is None:
        return flask.Response(status=status, headers=cors)
    return flask.Response(
        json.dumps(body), status=status, mimetype="application/json", headers=cors
    )
