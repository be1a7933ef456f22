"""Process function entry point: a CloudEvent for each object finalized in the uploads bucket.

Returning normally acknowledges the event (the job is done, failed, or the event was not ours or
a duplicate); raising answers 500, and Eventarc delivers the event again with backoff.
"""

from __future__ import annotations

import functions_framework
from cloudevents.http import CloudEvent

from gazokako.clients import default_clients
from gazokako.errors import TransientError
from gazokako.logs import log_event
from gazokako.processing import ProcessService

_service: ProcessService | None = None


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
        # queries can count, besides the traceback the framework prints.
        log_event(
            "process.retry",
            severity="WARNING",
            ce_id=attributes.get("id"),
            subject=attributes.get("subject"),
            reason=exc.message,
        )
        raise
