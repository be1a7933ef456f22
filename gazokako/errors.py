"""One exception hierarchy; its two branches decide retries.

A `PermanentError` is the caller's or the input's fault: retrying cannot help, so the HTTP API
answers with its status and the process function marks the job `failed` and acknowledges the
event. A `TransientError` is the platform's (storage or Firestore 5xx, timeouts): the process
function raises it so that Eventarc redelivers the event.
"""

from __future__ import annotations

from types import TracebackType

from google.api_core import exceptions as gexc


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


class Conflict(PermanentError):
    """The job is not in a state that allows the request yet (a revision of a job that is not
    done, or while another revision is being rendered)."""

    code = "not_done"
    http_status = 409


class Gone(PermanentError):
    """What the request needs is gone for good: a job's source after its review window."""

    code = "review_closed"
    http_status = 410


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


# The platform's errors worth a retry, from either client (storage and Firestore raise the same
# google.api_core exceptions): briefly unavailable or slow, or a transaction lost a race.
RETRYABLE: tuple[type[BaseException], ...] = (
    gexc.ServerError,
    gexc.TooManyRequests,
    gexc.DeadlineExceeded,
    gexc.ServiceUnavailable,
    gexc.Aborted,
    gexc.Conflict,
    ConnectionError,
    TimeoutError,
)


class transient_on:
    """The one mapping of platform failures to retries: inside `with transient_on("read job")`,
    a `RETRYABLE` error becomes `TransientError("could not read job: ServiceUnavailable 503")`
    (`failure_summary`: no text of the error, which may quote an object's URL); anything else
    passes unchanged. (A class, not a generator: its `__exit__` never swallows, so a `return`
    inside the block types as one.)"""

    def __init__(self, what: str) -> None:
        self.what = what

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None and isinstance(exc, RETRYABLE):
            raise TransientError(f"could not {self.what}: {failure_summary(exc)}") from exc


def failure_summary(exc: BaseException) -> str:
    """A platform error as a log line may carry it: its type and HTTP status, never its text.
    The client libraries' texts quote the request URL, which names the object (a drop's own
    name, an API job's id)."""
    code = getattr(exc, "code", None)
    return f"{type(exc).__name__} {code}" if isinstance(code, int) else type(exc).__name__


# Every refusal the API answers with, one class per status: the upload function maps the web
# framework's own errors through this table, so both speak the same codes.
API_REFUSALS: tuple[type[PermanentError], ...] = (
    InvalidRequest,
    NotFound,
    MethodNotAllowed,
    Conflict,
    Gone,
    PayloadTooLarge,
    UnsupportedMediaType,
    RateLimited,
)
HTTP_ERROR_CODES: dict[int, str] = {cls.http_status: cls.code for cls in API_REFUSALS}
