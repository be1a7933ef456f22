"""Upload API entry point (HTTP): POST /uploads, GET /jobs/{id}, DELETE /jobs/{id}."""

from __future__ import annotations

import flask
import functions_framework

from gazokako.api import respond
from gazokako.clients import default_clients
from gazokako.uploads import UploadService

_service: UploadService | None = None


@functions_framework.http
def upload_api(request: flask.Request) -> flask.Response:
    global _service  # noqa: PLW0603 - built once per instance, on the first request
    if _service is None:
        _service = UploadService(default_clients())
    return respond(request, _service)
