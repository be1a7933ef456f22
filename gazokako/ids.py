"""Job IDs: the only name a job or its objects ever have, so they must be unguessable."""

from __future__ import annotations

import re
import secrets

# 24 random bytes = 192 bits, well above the 128 the design asks for; URL-safe base64 -> 32 chars.
_ID_BYTES = 24
_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{32}$")


def new_job_id() -> str:
    return secrets.token_urlsafe(_ID_BYTES)


def is_job_id(value: str) -> bool:
    return bool(_ID_PATTERN.fullmatch(value))
