"""The process function's service: one finalized object in, exactly one job outcome out.

Order matters for at-least-once delivery: claim the job (transaction on the object's
generation), read, process, write the result under a deterministic name, and only then finish
the job record. A crash anywhere before the last step leaves a lease that a redelivery reclaims;
a transient failure releases the claim and raises, so the event comes back. The job document's
fields are the contract described in docs/JOBS.md.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import posixpath
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
from gazokako.ids import new_job_id
from gazokako.logs import log_event

FINALIZED = "google.cloud.storage.object.v1.finalized"
_API_SOURCE = re.compile(r"^u/(?P<id>[A-Za-z0-9_-]{32})/source$")
# Untrusted metadata is stored on the job before it is validated; keep it small.
_MAX_DROP_OPS = 32
_MAX_OP_CHARS = 64
_MAX_FILENAME_CHARS = 255
TIMING_KEYS = ("download", "decode", "detect", "filter", "encode", "upload", "total")


def result_object_name(job_id: str, generation: int, fmt: str) -> str:
    """Where the result of one source generation goes: the same name on every retry, so a
    repeated attempt overwrites instead of adding; a new generation gets a new name."""
    return f"r/{job_id}/{generation}.{'jpg' if fmt == 'jpeg' else fmt}"


def parse_ops_metadata(raw: object, default: tuple[str, ...]) -> list[str]:
    """Operations of a dropped object: custom metadata `ops`, comma-separated, else the default."""
    if not isinstance(raw, str) or not raw.strip():
        return list(default)
    parts = [p.strip() for p in raw.split(",") if p.strip()]
    return [p[:_MAX_OP_CHARS] for p in parts[:_MAX_DROP_OPS]]


def _as_int(value: object) -> int:
    """int64 fields arrive as JSON strings; a malformed one counts as absent."""
    try:
        return int(str(value or 0))
    except ValueError:
        return 0


def split_detector(detector: str | None) -> dict[str, str] | None:
    if not detector:
        return None
    name, _, version = detector.partition("@")
    return {"name": name, "version": version}


class ProcessService:
    def __init__(self, clients: Clients) -> None:
        self.config = clients.config
        self.clients = clients
        self.store = jobs.JobStore(clients.firestore)

    # -- event entry ---------------------------------------------------------------------------
    def handle_finalized(self, attributes: Mapping[str, Any], data: Mapping[str, Any]) -> None:
        """Handle one CloudEvent. Returns normally when the event is dealt with for good (done,
        failed, duplicate, not ours); raises when it must be delivered again."""
        ce_type = attributes.get("type")
        bucket = str(data.get("bucket", ""))
        name = str(data.get("name", ""))
        generation = _as_int(data.get("generation"))
        if ce_type is not None and ce_type != FINALIZED:
            log_event("process.ignored", bucket=bucket, object=name, reason=f"type {ce_type}")
            return
        if bucket != self.config.uploads_bucket:
            # Only the uploads bucket may trigger work; anything else would risk a loop.
            log_event("process.ignored", bucket=bucket, object=name, reason="not uploads bucket")
            return
        if not name or generation <= 0 or name.endswith("/"):
            # A folder placeholder or a malformed event: nothing to process, nothing to retry.
            log_event("process.ignored", bucket=bucket, object=name, reason="not a file")
            return
        match = _API_SOURCE.fullmatch(name)
        job_id = match["id"] if match else self._drop_job(bucket, name, generation, data)
        self.process_job(job_id, bucket, name, generation, data)

    def _drop_job(self, bucket: str, name: str, generation: int, data: Mapping[str, Any]) -> str:
        """A direct drop gets a random job id, made once per (object, generation)."""
        metadata = data.get("metadata") or {}
        ops = parse_ops_metadata(
            metadata.get("ops") if isinstance(metadata, Mapping) else None,
            self.config.default_ops,
        )
        now = jobs.utcnow()
        declared = _as_int(data.get("size"))
        candidate = new_job_id()
        fields = {
            "id": candidate,
            "status": jobs.QUEUED,
            "origin": "drop",
            "ops": ops,
            "options": {},
            "filename": posixpath.basename(name)[:_MAX_FILENAME_CHARS],
            "source": {
                "bucket": bucket,
                "name": name,
                "content_type": str(data.get("contentType") or ""),
                "declared_bytes": declared,
                "generation": generation,
            },
            "generation": 0,
            "created_at": now,
            "updated_at": now,
            "expires_at": now + dt.timedelta(days=self.config.job_ttl_days),
        }
        job_id, created = self.store.create_drop_job(bucket, name, generation, fields, candidate)
        log_event(
            "job.created" if created else "process.drop_known",
            job_id=job_id,
            origin="drop",
            object=name,
            generation=generation,
        )
        return job_id

    # -- one job -------------------------------------------------------------------------------
    def process_job(
        self, job_id: str, bucket: str, name: str, generation: int, data: Mapping[str, Any]
    ) -> None:
        claim = self.store.claim(
            job_id,
            generation,
            lease_seconds=self.config.lease_seconds,
            max_attempts=self.config.max_attempts,
        )
        outcome = claim.outcome
        if outcome is jobs.ClaimOutcome.NO_JOB:
            # No job: never created, or erased by DELETE /jobs/{id} before this event arrived.
            log_event("process.no_job", severity="WARNING", job_id=job_id, object=name)
            return
        if outcome is jobs.ClaimOutcome.ALREADY_FINISHED:
            log_event("process.duplicate", job_id=job_id, generation=generation)
            self._after_duplicate(claim.job, bucket, name, generation)
            return
        if outcome is jobs.ClaimOutcome.EXHAUSTED:
            log_event(
                "job.failed",
                severity="ERROR",
                job_id=job_id,
                generation=generation,
                code="too_many_attempts",
            )
            self._delete_result(claim.job.get("result"), keep=None)
            self._delete_results_of(job_id, generation)
            return
        if outcome is jobs.ClaimOutcome.BUSY:
            # Another delivery is working on it; if that one dies, its lease runs out and the
            # redelivery of this event takes over.
            raise TransientError(f"job {job_id} is being processed by another delivery")
        log_event("process.claimed", job_id=job_id, generation=generation, token=claim.token[:6])
        try:
            self._run(
                claim, job_id=job_id, bucket=bucket, name=name, generation=generation, data=data
            )
        except BaseException:
            # Transient (or a crash of ours): hand the claim back so the redelivery can start at
            # once rather than after the lease; then let the event be delivered again.
            self.store.release(job_id, generation, claim.token)
            raise

    def _run(
        self,
        claim: jobs.Claim,
        *,
        job_id: str,
        bucket: str,
        name: str,
        generation: int,
        data: Mapping[str, Any],
    ) -> None:
        job = claim.job
        started = time.perf_counter()
        timings = dict.fromkeys(TIMING_KEYS, 0.0)
        source: dict[str, Any] = {
            "source.bucket": bucket,
            "source.name": name,
            "source.generation": generation,
            "source.content_type": str(data.get("contentType") or ""),
        }
        try:
            declared = _as_int(data.get("size"))
            if declared > self.config.max_upload_bytes:
                raise PermanentError(
                    f"object has {declared} bytes; the maximum is {self.config.max_upload_bytes}",
                    code="too_many_bytes",
                )
            ops = imaging.validate_ops(job.get("ops") or [])
            options = imaging.Options.from_mapping(job.get("options") or {})
            t0 = time.perf_counter()
            payload = self._download(bucket, name, generation)
            timings["download"] = time.perf_counter() - t0
            source["source.bytes"] = len(payload)
            source["source.sha256"] = hashlib.sha256(payload).hexdigest()
            limits = imaging.Limits(
                max_bytes=self.config.max_upload_bytes, max_pixels=self.config.max_pixels
            )
            try:
                result = imaging.process_image(payload, ops, options, limits)
            except (imaging.ImagingError, PermanentError):
                raise
            except Exception as exc:
                # The same bytes would fail the same way: failing the job beats a poison event.
                log_event("process.crash", severity="ERROR", job_id=job_id, error=repr(exc))
                raise PermanentError("the image could not be processed", code="internal") from exc
        except (imaging.ImagingError, PermanentError) as exc:
            timings["total"] = time.perf_counter() - started
            self._fail(
                claim, job_id, generation, (exc.code, exc.message), source=source, timings=timings
            )
            return
        for key, value in result.timings.items():
            timings[key] = value
        result_name = result_object_name(job_id, generation, result.format)
        t0 = time.perf_counter()
        self._upload(result_name, result.data, result.content_type)
        timings["upload"] = time.perf_counter() - t0
        timings["total"] = time.perf_counter() - started
        now = jobs.utcnow()
        finished = self.store.finish(
            job_id,
            generation,
            {
                "status": jobs.DONE,
                **source,
                "source.format": result.source_format,
                "source.width": result.source_width,
                "source.height": result.source_height,
                "source.deleted": self.config.delete_originals,
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
                    "boxes": [f.to_dict() for f in result.faces],
                    "unverified": result.faces_unverified,
                },
                "detector": split_detector(result.detector),
                "timings_ms": {k: round(v * 1000, 1) for k, v in timings.items()},
                "expires_at": now + dt.timedelta(days=self.config.job_ttl_days),
                "error": firestore.DELETE_FIELD,
            },
            token=claim.token,
        )
        if not finished:
            self._superseded(job_id, generation, result_name)
            return
        log_event(
            "job.done",
            job_id=job_id,
            generation=generation,
            origin=job.get("origin"),
            faces=len(result.faces),
            total_ms=round(timings["total"] * 1000, 1),
        )
        # An older generation's result would otherwise stay behind with no record naming it.
        self._delete_result(job.get("result"), keep=result_name)
        if self.config.delete_originals:
            self._delete_source(bucket, name, generation)

    def _fail(
        self,
        claim: jobs.Claim,
        job_id: str,
        generation: int,
        error: tuple[str, str],
        *,
        source: Mapping[str, Any],
        timings: Mapping[str, float],
    ) -> None:
        finished = self.store.finish(
            job_id,
            generation,
            {
                "status": jobs.FAILED,
                **source,
                "error": {"code": error[0], "message": error[1]},
                # A failed outcome publishes nothing, not even an older generation's result.
                "result": firestore.DELETE_FIELD,
                "faces": firestore.DELETE_FIELD,
                "detector": firestore.DELETE_FIELD,
                "timings_ms": {k: round(v * 1000, 1) for k, v in timings.items()},
            },
            token=claim.token,
        )
        if not finished:
            log_event("process.superseded", job_id=job_id, generation=generation)
            return
        log_event(
            "job.failed", severity="WARNING", job_id=job_id, generation=generation, code=error[0]
        )
        self._delete_result(claim.job.get("result"), keep=None)

    def _superseded(self, job_id: str, generation: int, result_name: str) -> None:
        """Our finish lost: the job moved to a newer generation, was deleted, or another holder
        of this generation took over after our lease ran out."""
        current = self.store.get(job_id)
        log_event("process.superseded", job_id=job_id, generation=generation)
        if current is None or int(current.get("generation") or 0) != generation:
            # Nobody will ever name this object: remove it rather than leave an orphan.
            self._delete_result(
                {"bucket": self.config.results_bucket, "name": result_name}, keep=None
            )

    def _after_duplicate(
        self, job: Mapping[str, Any], bucket: str, name: str, generation: int
    ) -> None:
        # The first delivery may have died between finishing the record and deleting the
        # original; a redelivery completes that step.
        if (
            self.config.delete_originals
            and job.get("status") == jobs.DONE
            and int(job.get("generation") or 0) == generation
        ):
            self._delete_source(bucket, name, generation)

    # -- storage -------------------------------------------------------------------------------
    def _download(self, bucket: str, name: str, generation: int) -> bytes:
        blob = self.clients.storage.bucket(bucket).blob(name, generation=generation)
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

    def _delete_result(self, result: object, *, keep: str | None) -> None:
        if not isinstance(result, Mapping) or not result.get("name"):
            return
        if result["name"] == keep:
            return
        bucket = str(result.get("bucket") or self.config.results_bucket)
        blob = self.clients.storage.bucket(bucket).blob(str(result["name"]))
        try:
            with contextlib.suppress(gexc.NotFound):
                blob.delete()
        except jobs.RETRYABLE as exc:
            raise TransientError(f"could not delete {result['name']}: {exc}") from exc

    def _delete_results_of(self, job_id: str, generation: int) -> None:
        """Whatever a crashed attempt at this generation may have written before it died."""
        prefix = f"r/{job_id}/{generation}."
        try:
            for blob in self.clients.storage.list_blobs(self.config.results_bucket, prefix=prefix):
                with contextlib.suppress(gexc.NotFound):
                    blob.delete()
        except jobs.RETRYABLE as exc:
            raise TransientError(f"could not delete results under {prefix}: {exc}") from exc

    def _delete_source(self, bucket: str, name: str, generation: int) -> None:
        # Only the generation that was processed: a newer upload under the same name stays.
        blob = self.clients.storage.bucket(bucket).blob(name, generation=generation)
        try:
            with contextlib.suppress(gexc.NotFound):
                blob.delete()
        except jobs.RETRYABLE as exc:
            raise TransientError(f"could not delete the original {name}: {exc}") from exc
        log_event("process.original_deleted", object=name, generation=generation)
