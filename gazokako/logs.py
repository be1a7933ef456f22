"""Structured log events: one JSON object per line on stdout, the shape Cloud Logging parses.

`severity` and `message` are the fields Cloud Logging lifts into the entry; every line also names
its `event`, so a query like `jsonPayload.event="job.done"` finds one kind of happening.

A job id is the key to a photo, so no line carries one: callers name a job by
`ids.log_ref(id)` (field `job`) and never log object names. As a second line of defence every
line passes through `ids.redact`, so an id inside an error message or a URL is hidden too.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from gazokako.ids import redact


def log_event(event: str, *, severity: str = "INFO", **fields: Any) -> None:
    """Write one event; a field whose value is None is left out (it does not apply here)."""
    record: dict[str, Any] = {
        "severity": severity,
        "event": event,
        "message": fields.pop("message", event),
        "time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }
    record.update((k, v) for k, v in fields.items() if v is not None)
    sys.stdout.write(redact(json.dumps(record, default=str, ensure_ascii=False)) + "\n")
    sys.stdout.flush()


# Loggers of the HTTP server stack that may print a request's path (/jobs/{id}): werkzeug's
# request lines (the functions framework's --debug server), gunicorn's access log when enabled,
# and Flask's "Exception on /jobs/{id}" line, logged under the app's name (the target).
SERVER_LOGGERS = ("werkzeug", "gunicorn.access", "gunicorn.error")


class _RedactFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        redacted = redact(text)
        if redacted != text:
            record.msg, record.args = redacted, None
        return True


def redact_server_logs(*names: str) -> None:
    """Make the named loggers (and the server's) hide job ids in what they print."""
    for name in (*SERVER_LOGGERS, *names):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _RedactFilter) for f in logger.filters):
            logger.addFilter(_RedactFilter())
