"""The one exception hierarchy: `transient_on` is the only way a platform failure becomes a retry,
and the API's refusal table is derived from the classes, not written again."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from google.api_core import exceptions as gexc

from gazokako import errors
from gazokako.errors import (
    HTTP_ERROR_CODES,
    RETRYABLE,
    PermanentError,
    TransientError,
    transient_on,
)


@pytest.mark.parametrize(
    "raised",
    [
        gexc.InternalServerError("boom"),
        gexc.ServiceUnavailable("down"),
        gexc.TooManyRequests("slow down"),
        gexc.DeadlineExceeded("late"),
        gexc.Aborted("contention"),
        gexc.Conflict("contention"),
        ConnectionError("reset"),
        TimeoutError("timed out"),
    ],
)
def test_platform_failures_become_transient_with_what_failed(raised: Exception) -> None:
    assert isinstance(raised, RETRYABLE)
    with pytest.raises(TransientError) as caught, transient_on("read job"):
        raise raised
    assert caught.value.message.startswith(f"could not read job: {type(raised).__name__}")
    assert caught.value.__cause__ is raised


def test_a_transient_error_never_carries_the_platform_text() -> None:
    """The storage client's texts quote the request URL, which names the object: a drop's own
    name, or an API job's id. What reaches a log line is the type and the status alone."""
    url = "GET https://storage.googleapis.com/storage/v1/b/uploads/o/inbox%2Falice-passport.jpg"
    with pytest.raises(TransientError) as caught, transient_on("read the source"):
        raise gexc.ServiceUnavailable(url)
    assert caught.value.message == "could not read the source: ServiceUnavailable 503"
    assert "alice" not in str(caught.value)


@pytest.mark.parametrize(
    "raised", [gexc.NotFound("gone"), gexc.PreconditionFailed("412"), ValueError("no")]
)
def test_other_errors_pass_unchanged(raised: Exception) -> None:
    with pytest.raises(type(raised)) as caught, transient_on("read job"):
        raise raised
    assert caught.value is raised


def test_a_block_without_errors_returns_its_value() -> None:
    def read() -> int:
        with transient_on("read"):
            return 3

    assert read() == 3


def test_the_refusal_table_has_one_code_per_status_from_the_classes() -> None:
    assert HTTP_ERROR_CODES == {
        400: "invalid_request",
        404: "not_found",
        405: "method_not_allowed",
        409: "not_done",
        410: "review_closed",
        413: "too_large",
        415: "unsupported_media_type",
        429: "rate_limited",
    }
    # Every refusal class of errors.py is in it, each with its own status.
    classes = [
        c
        for c in vars(errors).values()
        if isinstance(c, type) and issubclass(c, PermanentError) and c is not PermanentError
    ]
    assert {c.http_status: c.code for c in classes} == HTTP_ERROR_CODES
    assert len({c.http_status for c in classes}) == len(classes)


def test_only_errors_py_maps_platform_errors_to_retries() -> None:
    """Every other module goes through `transient_on`: none names RETRYABLE or catches the
    client libraries' server errors itself."""
    package = Path(errors.__file__).parent
    for module in sorted(package.glob("*.py")):
        if module.name == "errors.py":
            continue
        source = module.read_text()
        assert "RETRYABLE" not in source, module.name
        assert not re.search(r"except \(?gexc\.(ServerError|ServiceUnavailable)", source), module
