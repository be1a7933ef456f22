"""The process function's service: one finalized object in, exactly one job outcome out.

Order matters for at-least-once delivery: claim the job (transaction on the object's
generation), read, process, write the result under a deterministic name, and only then finish
the job record. A crash anywhere before the last step leaves a lease that a redelivery reclaims.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Mapping
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore

import imaging
from gazokako import jobs
from gazokako.clients import Clients
from gazokako.errors import PermanentError, TransientError
from gazokako.logs import log_event

_API_SOURCE = re.compile(r"^u/(?P<id>[A-Za-z0-9_-]{32})/source$")


def result_object_name(job_id: str, fmt: str) -> str:
    return f"r/{job_id}/result.{'jpg' if fmt == 'jpeg' else fmt}"


class ProcessService:
    def __init__(self, clients: Clients) -> None:
        self.config = clients.config
        self.clients = clients
        self.store = jobs.JobStore(clients.firestore)

    def handle_finalized(self, attributes: Mapping[str, Any], data: Mapping[str, Any]) -> None:
        bucket = str(data.get("bucket", ""))
        name = str(data.get("name", ""))
        generation = int(data.get("generation") or 0)
        if bucket != self.config.uploads_bucket:
            # Only the uploads bucket may trigger work; anything else would risk a loop.
            log_event("process.ignored", bucket=bucket, object=name, reason="not uploads bucket")
            return
        match = _API_SOURCE.fullmatch(name)
        if match is None:
            log_event("process.ignored", bucket=bucket, object=name, reason="not a job source")
            return
        self.process_job(match["id"], bucket, name, generation, data)

    def process_job(
        self, job_id: str, bucket: str, name: str, generation: int, data: Mapping[str, Any]
    ) -> None:
        claim = self.store.claim(job_id, generation, lease_seconds=self.config.lease_seconds)
        if claim.outcome is jobs.ClaimOutcome.NO_JOB:
            log_event("process.no_job", severity="WARNING", job_id=job_id, object=name)
            return
        if claim.outcome is jobs.ClaimOutcome.ALREADY_FINISHED:
            log_event("process.duplicate", job_id=job_id, generation=generation)
            return
        if claim.outcome is jobs.ClaimOutcome.BUSY:
            # Another delivery is working on it; if that one dies, its lease runs out and the
            # redelivery of this event takes over.
            raise TransientError(f"job {job_id} is being processed by another delivery")
        log_event("process.claimed", job_id=job_id, generation=generation)
        job = claim.job
        timings: dict[str, float] = {}
        started = time.perf_counter()
        try:
            declared = int(data.get("size") or 0)
            if declared > self.config.max_upload_bytes:
                raise PermanentError(
                    f"object has {declared} bytes; the maximum is {self.config.max_upload_bytes}",
                    code="too_many_bytes",
                )
            t0 = time.perf_counter()
            source = self._download(bucket, name, generation)
            timings["download"] = time.perf_counter() - t0
            options = imaging.Options.from_mapping(job.get("options") or {})
            limits = imaging.Limits(
                max_bytes=self.config.max_upload_bytes, max_pixels=self.config.max_pixels
            )
            result = imaging.process_image(source, job.get("ops") or [], options, limits)
        except (imaging.ImagingError, PermanentError) as exc:
            self._fail(job_id, generation, exc.code, exc.message)
            return
        timings.update(result.timings)
        result_name = result_object_name(job_id, result.format)
        t0 = time.perf_counter()
        self._upload(result_name, result.data, result.content_type)
        timings["upload"] = time.perf_counter() - t0
        timings["total"] = time.perf_counter() - started
        finished = self.store.finish(
            job_id,
            generation,
            {
                "status": jobs.DONE,
                "source.generation": generation,
                "source.bytes": len(source),
                "source.sha256": hashlib.sha256(source).hexdigest(),
                "source.format": result.source_format,
                "source.width": result.source_width,
                "source.height": result.source_height,
                "result": {
                    "bucket": self.config.results_bucket,
                    "name": result_name,
                    "bytes": len(result.data),
                    "width": result.width,
                    "height": result.height,
                    "format": result.format,
                    "content_type": result.content_type,
                },
                "faces": {
                    "count": len(result.faces),
                    "boxes": [
                        {"x": f.x, "y": f.y, "w": f.w, "h": f.h, "score": round(f.score, 4)}
                        for f in result.faces
                    ],
                },
                "detector": result.detector,
                "timings_ms": {k: round(v * 1000, 1) for k, v in timings.items()},
                "error": firestore.DELETE_FIELD,
            },
        )
        log_event(
            "job.done" if finished else "process.superseded",
            job_id=job_id,
            generation=generation,
            faces=len(result.faces),
            total_ms=round(timings["total"] * 1000, 1),
        )

    def _fail(self, job_id: str, generation: int, code: str, message: str) -> None:
        self.store.finish(
            job_id,
            generation,
            {"status": jobs.FAILED, "error": {"code": code, "message": message}},
        )
        log_event("job.failed", severity="WARNING", job_id=job_id, code=code)

    def _download(self, bucket: str, name: str, generation: int) -> bytes:
        blob = self.clients.storage.bucket(bucket).blob(name, generation=generation or None)
        try:
            return bytes(blob.download_as_bytes())
        except gexc.NotFound as exc:
            raise PermanentError(
                "the uploaded object no longer exists", code="source_missing"
            ) from exc
        except jobs.RETRYABLE as exc:
            raise TransientError(f"could not read {name}: {exc}") from exc

    def _upload(self, name: str, payload: bytes, content_type: str) -> None:
        blob = self.clients.storage.bucket(self.config.results_bucket).blob(name)
        try:
            blob.upload_from_string(payload, content_type=content_type)
        except jobs.RETRYABLE as exc:
            raise TransientError(f"could not write {name}: {exc}") from exc
