"""The CloudEvents Eventarc delivers: one home for their shape.

Eventarc delivers `google.cloud.storage.object.v1.finalized` to the process function in binary
content mode: the attributes as `ce-*` headers, the object resource as the JSON body with its
int64 fields as strings. The local bridge (devstack/bridge.py) and the backfill
(gazokako/backfill.py) build exactly this, so a backfilled object is indistinguishable from a
drop.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

FINALIZED = "google.cloud.storage.object.v1.finalized"
# An Eventarc Pub/Sub trigger's event (the review function's, on REVISIONS_TOPIC).
MESSAGE_PUBLISHED = "google.cloud.pubsub.topic.v1.messagePublished"
# The object resource's int64 fields, which the JSON API (and so Eventarc) writes as strings.
_INT64_FIELDS = ("generation", "metageneration", "size")


def cloudevent_headers(event_id: str, time: datetime, data: Mapping[str, Any]) -> dict[str, str]:
    """The ce-* headers Eventarc sets for a finalized object (binary content mode)."""
    bucket = str(data["bucket"])
    return {
        "ce-specversion": "1.0",
        "ce-id": event_id,
        "ce-time": time.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "ce-type": FINALIZED,
        "ce-source": f"//storage.googleapis.com/projects/_/buckets/{bucket}",
        "ce-subject": f"objects/{data['name']}",
        "ce-bucket": bucket,
        "Content-Type": "application/json",
    }


def storage_object_json(data: Mapping[str, Any]) -> dict[str, Any]:
    """The object resource as Eventarc sends it: int64 fields are JSON strings."""
    body = dict(data)
    for key in _INT64_FIELDS:
        if key in body and body[key] is not None:
            body[key] = str(body[key])
    body.setdefault("kind", "storage#object")
    return body


def pubsub_cloudevent(
    message_id: str,
    publish_time: datetime,
    payload: bytes,
    attributes: Mapping[str, str],
    *,
    topic: str,
    subscription: str,
) -> tuple[dict[str, Any], dict[str, str]]:
    """(data, ce-* headers) of the CloudEvent an Eventarc Pub/Sub trigger delivers for one
    message of `topic` (projects/P/topics/T), in binary content mode: the data is
    `{"message": {data (base64), attributes, messageId, publishTime}, "subscription"}`."""
    when = publish_time.astimezone(UTC).isoformat().replace("+00:00", "Z")
    message = {
        "data": base64.b64encode(payload).decode(),
        "attributes": dict(attributes),
        "messageId": message_id,
        "message_id": message_id,
        "publishTime": when,
        "publish_time": when,
    }
    headers = {
        "ce-specversion": "1.0",
        "ce-id": message_id,
        "ce-time": when,
        "ce-type": MESSAGE_PUBLISHED,
        "ce-source": f"//pubsub.googleapis.com/{topic}",
        "Content-Type": "application/json",
    }
    return {"message": message, "subscription": subscription}, headers
