"""The upload API's service: issue constrained upload URLs, report jobs, erase them."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Mapping
from typing import Any

from google.api_core import exceptions as gexc

import imaging
from gazokako import jobs
from gazokako.clients import Clients
from gazokako.errors import (
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    TransientError,
    UnsupportedMediaType,
)
from gazokako.ids import is_job_id, new_job_id
from gazokako.signing import UrlSigner

ALLOWED_CONTENT_TYPES = ("image/jpeg", "image/png", "image/webp")
MAX_FILENAME_CHARS = 255


def source_object_name(job_id: str) -> str:
    return f"u/{job_id}/source"


def iso(value: Any) -> str | None:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    return None


class UploadService:
    def __init__(self, clients: Clients, signer: UrlSigner | None = None) -> None:
        self.config = clients.config
        self.clients = clients
        self.signer = signer or UrlSigner(clients.config)
        self.store = jobs.JobStore(clients.firestore)

    def issue_upload_url(self, body: Mapping[str, Any], *, base_url: str) -> dict[str, Any]:
        filename = body.get("filename", "")
        content_type = body.get("content_type")
        size = body.get("size")
        if not isinstance(filename, str) or len(filename) > MAX_FILENAME_CHARS:
            raise InvalidRequest(f"filename must be a string of at most {MAX_FILENAME_CHARS} chars")
        if not isinstance(content_type, str):
            raise InvalidRequest("content_type is required")
        if content_type not in ALLOWED_CONTENT_TYPES:
            raise UnsupportedMediaType(
                f"content_type must be one of {', '.join(ALLOWED_CONTENT_TYPES)}"
            )
        if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
            raise InvalidRequest("size must be a positive integer (bytes)")
        if size > self.config.max_upload_bytes:
            raise PayloadTooLarge(
                f"size {size} exceeds the maximum of {self.config.max_upload_bytes} bytes"
            )
        ops_raw = body.get("ops", list(self.config.default_ops))
        if not isinstance(ops_raw, list) or not all(isinstance(o, str) for o in ops_raw):
            raise InvalidRequest("ops must be a list of operation names")
        options_raw = body.get("options", {})
        if not isinstance(options_raw, dict):
            raise InvalidRequest("options must be an object")
        try:
            ops = imaging.validate_ops(ops_raw)
            imaging.Options.from_mapping(options_raw)
        except imaging.ImagingError as exc:
            raise InvalidRequest(exc.message, code=exc.code) from exc

        job_id = new_job_id()
        name = source_object_name(job_id)
        now = jobs.utcnow()
        # The job exists before the URL does, so every upload the URL allows has a record.
        self.store.create(
            job_id,
            {
                "id": job_id,
                "status": jobs.AWAITING_UPLOAD,
                "origin": "api",
                "ops": list(ops),
                "options": options_raw,
                "filename": filename,
                "source": {
                    "bucket": self.config.uploads_bucket,
                    "name": name,
                    "content_type": content_type,
                    "declared_bytes": size,
                },
                "generation": 0,
                "created_at": now,
                "updated_at": now,
                "expires_at": now + dt.timedelta(days=self.config.job_ttl_days),
            },
        )
        blob = self.clients.storage.bucket(self.config.uploads_bucket).blob(name)
        # Pinning the exact length makes storage refuse any other body, so the declared size,
        # already checked against the maximum, is the size that lands.
        signed = self.signer.sign(
            blob,
            method="PUT",
            content_type=content_type,
            headers={"x-goog-content-length-range": f"{size},{size}"},
        )
        return {
            "id": job_id,
            "upload": {"url": signed.url, "method": "PUT", "headers": dict(signed.headers)},
            "status_url": f"{base_url.rstrip('/')}/jobs/{job_id}",
            "expires_at": iso(signed.expires_at),
        }

    def _job_or_404(self, job_id: str) -> dict[str, Any]:
        # A malformed id answers exactly like an unknown one: no oracle for id guessing.
        job = self.store.get(job_id) if is_job_id(job_id) else None
        if job is None:
            raise NotFound("no such job")
        return job

    def describe_job(self, job_id: str) -> dict[str, Any]:
        job = self._job_or_404(job_id)
        out: dict[str, Any] = {
            "id": job_id,
            "status": job.get("status"),
            "origin": job.get("origin"),
            "ops": job.get("ops", []),
            "created_at": iso(job.get("created_at")),
            "updated_at": iso(job.get("updated_at")),
            "source": {
                k: v
                for k, v in (job.get("source") or {}).items()
                if k in {"content_type", "declared_bytes", "bytes", "sha256"}
            },
        }
        if job.get("filename"):
            out["source"]["filename"] = job["filename"]
        result = job.get("result")
        if job.get("status") == jobs.DONE and result:
            blob = self.clients.storage.bucket(result["bucket"]).blob(result["name"])
            signed = self.signer.sign(blob, method="GET")
            out["result"] = {
                "url": signed.url,
                "url_expires_at": iso(signed.expires_at),
                "content_type": result.get("content_type"),
                "width": result.get("width"),
                "height": result.get("height"),
                "bytes": result.get("bytes"),
            }
        if "faces" in job:
            out["faces"] = job["faces"]
        if job.get("error"):
            out["error"] = job["error"]
        return out

    def delete_job(self, job_id: str) -> None:
        """Erase the source, every result and the record; a second call is harmless."""
        if not is_job_id(job_id):
            return
        job = self.store.get(job_id) or {}
        targets = [
            (self.config.uploads_bucket, f"u/{job_id}/"),
            (self.config.results_bucket, f"r/{job_id}/"),
        ]
        src = job.get("source") or {}
        try:
            for bucket, prefix in targets:
                for blob in self.clients.storage.list_blobs(bucket, prefix=prefix):
                    _delete_quietly(blob)
            # A direct drop keeps its own name; it is erased with the job too.
            if src.get("bucket") and src.get("name"):
                _delete_quietly(self.clients.storage.bucket(src["bucket"]).blob(src["name"]))
        except jobs.RETRYABLE as exc:
            raise TransientError(f"could not delete objects: {exc}") from exc
        self.store.delete(job_id)


def _delete_quietly(blob: Any) -> None:
    with contextlib.suppress(gexc.NotFound):
        blob.delete()
