"""Upload API entry point (HTTP): POST /uploads, GET /jobs/{id}, DELETE /jobs/{id}.

The contract is api/openapi.yaml; docs/API.md explains it.
"""

from __future__ import annotations

import json
import threading

import flask
import functions_framework
from werkzeug.exceptions import HTTPException

from gazokako.api import Api
from gazokako.clients import default_clients
from gazokako.errors import HTTP_ERROR_CODES, InvalidRequest
from gazokako.logs import redact_server_logs
from gazokako.uploads import NOT_FOUND_MESSAGE, UploadService

_api: Api | None = None
_api_lock = threading.Lock()
# The request paths these servers may print (/jobs/{id}) hold the key to a photo.
redact_server_logs("upload_api")


def _instance_api() -> Api:
    global _api  # noqa: PLW0603 - one service and one set of rate-limit buckets per instance
    with _api_lock:
        if _api is None:
            _api = Api(UploadService(default_clients()))
        return _api


@functions_framework.http
def upload_api(request: flask.Request) -> flask.Response:
    return _instance_api().respond(request)


@functions_framework.errorhandler(HTTPException)  # type: ignore[untyped-decorator]
def _framework_error(exc: HTTPException) -> flask.Response:
    """Errors raised by the framework before our code runs (its own /robots.txt and
    /favicon.ico routes, malformed requests) answer in the API's JSON error shape too."""
    code = exc.code or 500
    if code >= 500:
        body = json.dumps({"error": {"code": "internal", "message": "internal error"}})
        return flask.Response(body, status=500, mimetype="application/json")
    status = code if code in HTTP_ERROR_CODES else InvalidRequest.http_status
    message = NOT_FOUND_MESSAGE if status == 404 else exc.name
    body = json.dumps({"error": {"code": HTTP_ERROR_CODES[status], "message": message}})
    return flask.Response(body, status=status, mimetype="application/json")
