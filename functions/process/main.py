"""Process function entry point: a CloudEvent for each object finalized in the uploads bucket."""

from __future__ import annotations

import functions_framework
from cloudevents.http import CloudEvent

from gazokako.clients import default_clients
from gazokako.processing import ProcessService

_service: ProcessService | None = None


@functions_framework.cloud_event
def process_upload(cloud_event: CloudEvent) -> None:
    global _service  # noqa: PLW0603 - built once per instance, on the first event
    if _service is None:
        _service = ProcessService(default_clients())
    # A TransientError propagates: the function answers 500 and Eventarc redelivers the event.
    _service.handle_finalized(dict(cloud_event.get_attributes()), cloud_event.get_data() or {})
