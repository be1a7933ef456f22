"""Structured log events: one JSON object per line on stdout, the shape Cloud Logging parses.

`severity` and `message` are the fields Cloud Logging lifts into the entry; every line also names
its `event`, so a query like `jsonPayload.event="job.done"` finds one kind of happening.

A job id is the key to a photo, so no line carries one: callers name a job by
`ids.log_ref(id)` (field `job`) and never log object names. As a second line of defence every
line passes through `ids.redact`, so an id inside an error message or a URL is hidden too.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any

from gazokako.ids import redact


def log_event(event: str, *, severity: str = "INFO", **fields: Any) -> None:
    record: dict[str, Any] = {
        "severity": severity,
        "event": event,
        "message": fields.pop("message", event),
        "time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }
    record.update(fields)
    sys.stdout.write(redact(json.dumps(record, default=str, ensure_ascii=False)) + "\n")
    sys.stdout.flush()
