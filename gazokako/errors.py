"""One exception hierarchy; its two branches decide retries.

A `PermanentError` is the caller's or the input's fault: retrying cannot help, so the HTTP API
answers with its status and the process function marks the job `failed` and acknowledges the
event. A `TransientError` is the platform's (storage or Firestore 5xx, timeouts): the process
function raises it so that Eventarc redelivers the event.
"""

from __future__ import annotations


class GazokakoError(Exception):
    code: str = "internal"
    http_status: int = 500

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def to_json(self) -> dict[str, dict[str, str]]:
        return {"error": {"code": self.code, "message": self.message}}


class PermanentError(GazokakoError):
    code = "invalid_request"
    http_status = 400


class InvalidRequest(PermanentError):
    code = "invalid_request"
    http_status = 400


class NotFound(PermanentError):
    code = "not_found"
    http_status = 404


class MethodNotAllowed(PermanentError):
    code = "method_not_allowed"
    http_status = 405


class PayloadTooLarge(PermanentError):
    code = "too_large"
    http_status = 413


class UnsupportedMediaType(PermanentError):
    code = "unsupported_media_type"
    http_status = 415


class RateLimited(PermanentError):
    code = "rate_limited"
    http_status = 429


class TransientError(GazokakoError):
    """The platform failed; the same request or event may succeed later."""

    code = "unavailable"
    http_status = 503
