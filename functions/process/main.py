"""Process function entry points: `process_upload`, a CloudEvent for each object finalized in
the uploads bucket; `process_revision`, a CloudEvent (Pub/Sub messagePublished) for each review
revision on REVISIONS_TOPIC; `sweep_reviews`, Cloud Scheduler's tick (through Pub/Sub and
Eventarc) that deletes the sources whose review window closed. Gen2 functions have one trigger
each, so all three deploy from this folder as functions of their own.

Returning normally acknowledges the event (the job is done, failed, or the event was not ours or
a duplicate); raising answers 500, and Eventarc delivers the event again with backoff.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

import functions_framework
from cloudevents.http import CloudEvent

from gazokako.clients import default_clients
from gazokako.errors import TransientError
from gazokako.logs import log_event
from gazokako.processing import ProcessService
from gazokako.review import ReviewService
from gazokako.sweep import sweep_review_sources

_service: ProcessService | None = None
_review: ReviewService | None = None


@functions_framework.cloud_event
def process_upload(cloud_event: CloudEvent) -> None:
    global _service  # noqa: PLW0603 - built once per instance, on the first event
    if _service is None:
        _service = ProcessService(default_clients())
    _handle(_service.handle_finalized, cloud_event, review=False)


@functions_framework.cloud_event
def process_revision(cloud_event: CloudEvent) -> None:
    global _review  # noqa: PLW0603 - built once per instance, on the first event
    if _review is None:
        _review = ReviewService(default_clients())
    _handle(_review.handle_message, cloud_event, review=True)


def _handle(
    handler: Callable[[dict[str, Any], Any], None], cloud_event: CloudEvent, *, review: bool
) -> None:
    """Run one event's handler; any failure answers 500 after one structured line, so Eventarc
    delivers the event again. Transient ones are expected now and then (a busy lease, a
    storage 503) and log queries count them. The event's subject is an object name, which may
    hold a job id: it is not logged, and the framework's traceback gets a bare error without
    the cause."""
    attributes = dict(cloud_event.get_attributes())
    try:
        handler(attributes, cloud_event.get_data() or {})
    except TransientError as exc:
        log_event(
            "review.retry" if review else "process.retry",
            severity="WARNING",
            ce_id=attributes.get("id"),
            reason=exc.message,
        )
        raise RetryLater from None
    except Exception as exc:
        log_event(
            "review.crash" if review else "process.crash",
            severity="ERROR",
            ce_id=attributes.get("id"),
            error=type(exc).__name__,
            stack_trace="".join(traceback.format_tb(exc.__traceback__)),
        )
        raise RetryLater from None


@functions_framework.cloud_event
def sweep_reviews(cloud_event: CloudEvent) -> None:
    """One sweep per tick; the message carries nothing. Its trigger does not retry: a run that
    fails answers 500 and the next tick, minutes later, finds the same jobs again."""
    try:
        sweep_review_sources(default_clients())
    except Exception as exc:
        log_event(
            "sweep.failed",
            severity="WARNING" if isinstance(exc, TransientError) else "ERROR",
            ce_id=cloud_event.get_attributes().get("id"),
            error=type(exc).__name__,
        )
        raise RetryLater from None


class RetryLater(TransientError):
    """What the framework sees and prints: answer 500, so Eventarc delivers the event again."""

    def __init__(self) -> None:
        super().__init__("the event will be delivered again; see the process.* log line")
