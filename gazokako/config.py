"""Configuration, read once from the environment at the edge into a frozen dataclass.

Nothing below the function entry points reads the environment; they receive a `Config`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gazokako.errors import GazokakoError

# The signed URL's lifetime is capped: a leaked link must die within minutes.
MAX_URL_TTL_SECONDS = 900


class ConfigError(GazokakoError):
    code = "config"


def _int(env: Mapping[str, str], name: str, *, minimum: int = 0) -> int | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")
    return value


def _bool(env: Mapping[str, str], name: str) -> bool | None:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return None
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _list(env: Mapping[str, str], name: str) -> tuple[str, ...] | None:
    raw = env.get(name)
    if raw is None:
        return None
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _check_origins(origins: tuple[str, ...]) -> None:
    # An origin is scheme://host[:port], compared verbatim with the browser's Origin header;
    # a wildcard would hand every site the API (and "*" is never echoed back anyway).
    for origin in origins:
        if "*" in origin or not re.fullmatch(r"https?://[^/\s]+", origin):
            raise ConfigError(f"ALLOWED_ORIGINS entry {origin!r} must be scheme://host[:port]")


@dataclass(frozen=True)
class Config:
    project: str
    uploads_bucket: str
    results_bucket: str
    # Origins allowed to call the API from a browser; never "*" in production.
    allowed_origins: tuple[str, ...] = ()
    # Production signs through IAM signBlob as this account (keyless).
    signer_service_account: str | None = None
    # Local development only: a throwaway service-account key made by the dev stack.
    local_signing_key_file: str | None = None
    # Where signed URLs point: the real endpoint, or the storage emulator's public address.
    storage_public_url: str = "https://storage.googleapis.com"
    # Decimal megabytes, as api/openapi.yaml and the page state it: 20 MB = 20,000,000 bytes.
    max_upload_bytes: int = 20_000_000
    url_ttl_seconds: int = MAX_URL_TTL_SECONDS
    default_ops: tuple[str, ...] = ("mosaic_faces",)
    delete_originals: bool = False
    job_ttl_days: int = 7
    lease_seconds: int = 300
    max_pixels: int = 50_000_000
    rate_limit_per_minute: int = 60
    # Upload API (docs/API.md): burst of POST /uploads per client, and the looser limit on
    # GET/DELETE /jobs/{id}, which the page polls.
    rate_limit_burst: int = 10
    rate_limit_reads_per_minute: int = 600
    rate_limit_reads_burst: int = 60
    # Proxies in front that append to X-Forwarded-For: 1 on Cloud Run (its front end), 0 when
    # clients connect directly (the local stack). Decides which address is "the client".
    trusted_proxy_hops: int = 1
    # Process function: holders of one object generation that may die (lease run out, no
    # outcome) before the job is failed for good. A picture that kills the instance every time
    # (memory) must not be retried forever.
    max_attempts: int = 8
    # Pub/Sub topic ids in this project (short names, not paths). JOBS_TOPIC: one message per
    # terminal outcome (docs/JOBS.md); unset publishes nothing. REVISIONS_TOPIC: the upload
    # function hands review revisions to the process function through it.
    jobs_topic: str | None = None
    revisions_topic: str | None = None
    # How long an API job's source is kept after `done` so a person can review the boxes and
    # have the photo rendered again from it (0: no review, the source goes at once).
    review_window_seconds: int = 1800

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        """The settings the environment names; every other field keeps its default above,
        the one place a default is written."""
        env = os.environ if env is None else env
        missing = [n for n in ("PROJECT_ID", "UPLOADS_BUCKET", "RESULTS_BUCKET") if not env.get(n)]
        if missing:
            raise ConfigError(f"missing required setting(s): {', '.join(missing)}")
        if env["UPLOADS_BUCKET"] == env["RESULTS_BUCKET"]:
            # One bucket for both would let every result trigger processing again.
            raise ConfigError("UPLOADS_BUCKET and RESULTS_BUCKET must differ")
        given: dict[str, Any] = {}
        for name, (field_name, minimum) in _INT_SETTINGS.items():
            value = _int(env, name, minimum=minimum)
            if value is not None:
                given[field_name] = value
        if "url_ttl_seconds" in given:
            given["url_ttl_seconds"] = min(given["url_ttl_seconds"], MAX_URL_TTL_SECONDS)
        delete_originals = _bool(env, "DELETE_ORIGINALS")
        if delete_originals is not None:
            given["delete_originals"] = delete_originals
        origins = _list(env, "ALLOWED_ORIGINS")
        if origins is not None:
            _check_origins(origins)
            given["allowed_origins"] = origins
        # An empty list of default operations means "unset", not "no operations".
        default_ops = _list(env, "DEFAULT_OPS")
        if default_ops:
            given["default_ops"] = default_ops
        for name, field_name in (
            ("SIGNER_SERVICE_ACCOUNT", "signer_service_account"),
            ("LOCAL_SIGNING_KEY_FILE", "local_signing_key_file"),
            ("JOBS_TOPIC", "jobs_topic"),
            ("REVISIONS_TOPIC", "revisions_topic"),
        ):
            if env.get(name):
                given[field_name] = env[name]
        if env.get("STORAGE_PUBLIC_URL"):
            given["storage_public_url"] = env["STORAGE_PUBLIC_URL"].rstrip("/")
        return cls(
            project=env["PROJECT_ID"],
            uploads_bucket=env["UPLOADS_BUCKET"],
            results_bucket=env["RESULTS_BUCKET"],
            **given,
        )


# Integer settings: environment variable -> (Config field, smallest value allowed).
_INT_SETTINGS: dict[str, tuple[str, int]] = {
    "MAX_UPLOAD_BYTES": ("max_upload_bytes", 1),
    "URL_TTL_SECONDS": ("url_ttl_seconds", 1),
    "JOB_TTL_DAYS": ("job_ttl_days", 1),
    "LEASE_SECONDS": ("lease_seconds", 1),
    "MAX_PIXELS": ("max_pixels", 1),
    "RATE_LIMIT_PER_MINUTE": ("rate_limit_per_minute", 0),
    "RATE_LIMIT_BURST": ("rate_limit_burst", 1),
    "RATE_LIMIT_READS_PER_MINUTE": ("rate_limit_reads_per_minute", 0),
    "RATE_LIMIT_READS_BURST": ("rate_limit_reads_burst", 1),
    "TRUSTED_PROXY_HOPS": ("trusted_proxy_hops", 0),
    "MAX_ATTEMPTS": ("max_attempts", 1),
    "REVIEW_WINDOW_SECONDS": ("review_window_seconds", 0),
}
