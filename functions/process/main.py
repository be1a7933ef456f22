"""Process function entry points: `process_upload`, a CloudEvent for each object finalized in
the uploads bucket, and `process_revision`, a CloudEvent (Pub/Sub messagePublished) for each
review revision on REVISIONS_TOPIC. Gen2 functions have one trigger each, so both deploy from
this folder as two functions.

Returning normally acknowledges the event (the job is done, failed, or the event was not ours or
a duplicate); raising answers 500, and Eventarc delivers the event again with backoff.
"""

from __future__ import annotations

import traceback

import functions_framework
from cloudevents.http import CloudEvent

from gazokako.clients import default_clients
from gazokako.errors import TransientError
from gazokako.logs import log_event
from gazokako.processing import ProcessService
from gazokako.review import ReviewService

_service: ProcessService | None = None
_review: ReviewService | None = None


@functions_framework.cloud_event
def process_upload(cloud_event: CloudEvent) -> None:
    global _service  # noqa: PLW0603 - built once per instance, on the first event
    if _service is None:
        _service = ProcessService(default_clients())
    attributes = dict(cloud_event.get_attributes())
    try:
        _service.handle_finalized(attributes, cloud_event.get_data() or {})
    except TransientError as exc:
        # Expected now and then (a busy lease, a storage 503): a structured line that log
        # queries can count. The event's subject is an object name, which may hold a job id:
        # it is not logged, and the framework's traceback gets a bare error without the cause.
        log_event(
            "process.retry", severity="WARNING", ce_id=attributes.get("id"), reason=exc.message
        )
        raise RetryLater from None
    except Exception as exc:
        log_event(
            "process.crash",
            severity="ERROR",
            ce_id=attributes.get("id"),
            error=type(exc).__name__,
            stack_trace="".join(traceback.format_tb(exc.__traceback__)),
        )
        raise RetryLater from None


@functions_framework.cloud_event
def process_revision(cloud_event: CloudEvent) -> None:
    global _review  # noqa: PLW0603 - built once per instance, on the first event
    if _review is None:
        _review = ReviewService(default_clients())
    attributes = dict(cloud_event.get_attributes())
    try:
        _review.handle_message(attributes, cloud_event.get_data() or {})
    except TransientError as exc:
        log_event(
            "review.retry", severity="WARNING", ce_id=attributes.get("id"), reason=exc.message
        )
        raise RetryLater from None
    except Exception as exc:
        log_event(
            "review.crash",
            severity="ERROR",
            ce_id=attributes.get("id"),
            error=type(exc).__name__,
            stack_trace="".join(traceback.format_tb(exc.__traceback__)),
        )
        raise RetryLater from None


class RetryLater(TransientError):
    """What the framework sees and prints: answer 500, so Eventarc delivers the event again."""

    def __init__(self) -> None:
        super().__init__("the event will be delivered again; see the process.* log line")
