"""The process function's service: one finalized object in, exactly one job outcome out.

Order matters for at-least-once delivery: claim the job (transaction on the object's
generation), read, process, write the result under a deterministic name (an API job's
`r/{id}/{generation}.{ext}`, a drop's own name plus the extension, compare-and-swapped so the
newest generation keeps it), and only then finish the job record; the outcome message goes to
JOBS_TOPIC after that (gazokako/outcomes.py). A crash anywhere before the record leaves a lease
that a redelivery reclaims; a transient failure releases the claim and raises, so the event
comes back. The job document's fields are the contract described in docs/JOBS.md.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import posixpath
import time
from collections.abc import Mapping
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore

import imaging
from gazokako import jobs
from gazokako.clients import Clients
from gazokako.errors import PermanentError, TransientError, transient_on
from gazokako.events import FINALIZED
from gazokako.ids import (
    MAX_OBJECT_NAME_BYTES,
    RESULTS_FOLDER,
    api_job_of,
    drop_result_name,
    drop_result_name_fits,
    in_api_folder,
    log_ref,
    new_job_id,
    reserved_drop_name,
    result_metadata,
    result_object_name,
    result_source_generation,
    results_prefix,
)
from gazokako.logs import log_event
from gazokako.outcomes import OUTCOME_LEASE_SECONDS, key_of, outcome_lease_fields, publish_outcome

__all__ = ["FINALIZED", "ProcessService", "parse_ops_metadata"]

# Untrusted metadata is stored on the job before it is validated; keep it small.
_MAX_DROP_OPS = 32
_MAX_OP_CHARS = 64
_MAX_FILENAME_CHARS = 255
TIMING_KEYS = ("download", "decode", "detect", "filter", "encode", "upload", "total")
# Rounds of read-compare-write on a drop's result name before the event is handed back.
_RESULT_CAS_ROUNDS = 8


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


def _written_at(data: Mapping[str, Any]) -> dt.datetime | None:
    """When the object was written (the event's timeCreated), if the event says."""
    raw = data.get("timeCreated")
    if not isinstance(raw, str) or not raw:
        return None
    try:
        stamp = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)


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
        # Object names are never logged: an API upload's name holds its job id.
        if ce_type is not None and ce_type != FINALIZED:
            log_event("process.ignored", bucket=bucket, reason=f"type {ce_type}")
            return
        if bucket != self.config.uploads_bucket:
            # Only the uploads bucket may trigger work; anything else would risk a loop.
            log_event("process.ignored", bucket=bucket, reason="not uploads bucket")
            return
        if not name or generation <= 0 or name.endswith("/"):
            # A folder placeholder or a malformed event: nothing to process, nothing to retry.
            log_event("process.ignored", bucket=bucket, reason="not a file")
            return
        job_id = api_job_of(name)
        if job_id is None and in_api_folder(name):
            # The API's folder holds only u/{id}/source; whatever else is there is nobody's.
            log_event("process.stray", severity="WARNING", reason="not an API source name")
            self._delete_source(bucket, name, generation)
            return
        if job_id is None:
            job_id = self._drop_job(bucket, name, generation, data)
            if job_id is None:
                # That generation's job was erased; a late or repeated event brought it back.
                log_event("process.drop_erased", severity="WARNING", generation=generation)
                self._delete_source(bucket, name, generation)
                return
        self.process_job(job_id, bucket, name, generation, data)

    def _drop_job(
        self, bucket: str, name: str, generation: int, data: Mapping[str, Any]
    ) -> str | None:
        """A direct drop gets a random job id, made once per (object, generation); None when
        that generation's job was erased."""
        metadata = data.get("metadata") or {}
        ops = parse_ops_metadata(
            metadata.get("ops") if isinstance(metadata, Mapping) else None,
            self.config.default_ops,
        )
        now = jobs.utcnow()
        declared = _as_int(data.get("size"))
        candidate = new_job_id()
        fields = jobs.drop_job(
            candidate,
            bucket=bucket,
            name=name,
            generation=generation,
            ops=ops,
            filename=posixpath.basename(name)[:_MAX_FILENAME_CHARS],
            content_type=str(data.get("contentType") or ""),
            declared_bytes=declared,
            now=now,
            expires_at=now + dt.timedelta(days=self.config.job_ttl_days),
        )
        job_id, created = self.store.create_drop_job(bucket, name, generation, fields, candidate)
        if job_id is not None:
            log_event(
                "job.created" if created else "process.drop_known",
                job=log_ref(job_id),
                origin="drop",
                generation=generation,
            )
        return job_id

    # -- one job -------------------------------------------------------------------------------
    def process_job(
        self, job_id: str, bucket: str, name: str, generation: int, data: Mapping[str, Any]
    ) -> None:
        ref = log_ref(job_id)
        claim = self.store.claim(
            job_id,
            generation,
            lease_seconds=self.config.lease_seconds,
            max_attempts=self.config.max_attempts,
            written_at=_written_at(data),
            ttl=dt.timedelta(days=self.config.job_ttl_days),
        )
        outcome = claim.outcome
        if outcome in (jobs.ClaimOutcome.NO_JOB, jobs.ClaimOutcome.DELETED):
            # Never created, erased by DELETE /jobs/{id}, or removed by its TTL: the object
            # (a PUT after DELETE, a reused URL) and anything an earlier attempt wrote go.
            log_event(
                "process.no_job" if outcome is jobs.ClaimOutcome.NO_JOB else "process.deleted",
                severity="WARNING",
                job=ref,
            )
            self._erase_leftovers(job_id, bucket, name, generation)
            return
        if outcome is jobs.ClaimOutcome.EXPIRED:
            log_event("process.expired", severity="WARNING", job=ref, generation=generation)
            self._delete_source(bucket, name, generation)
            return
        if outcome is jobs.ClaimOutcome.ALREADY_FINISHED:
            log_event("process.duplicate", job=ref, generation=generation)
            self._after_duplicate(job_id, claim.job, bucket, name, generation)
            return
        if outcome is jobs.ClaimOutcome.EXHAUSTED:
            log_event(
                "job.failed",
                severity="ERROR",
                job=ref,
                generation=generation,
                code="too_many_attempts",
            )
            self._delete_result(claim.job.get("result"), keep=None)
            self._delete_results_of(job_id, generation)
            self._delete_drop_results(job_id, claim.job, name)
            self._delete_source(bucket, name, generation)
            # The claim wrote the failed record; its outcome goes out like any other.
            final = self.store.get(job_id)
            if final is not None and int(final.get("generation") or 0) == generation:
                self._publish(job_id, final, leased=False)
            return
        if outcome is jobs.ClaimOutcome.BUSY:
            # Another delivery is working on it; if that one dies, its lease runs out and the
            # redelivery of this event takes over.
            raise TransientError("the job is being processed by another delivery")
        log_event("process.claimed", job=ref, generation=generation, token=claim.token[:6])
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
            _check_drop_name(job, name)
            size = _as_int(data.get("size"))
            if size > self.config.max_upload_bytes:
                raise PermanentError(
                    f"object has {size} bytes; the maximum is {self.config.max_upload_bytes}",
                    code="too_many_bytes",
                )
            # An API client declared its size and the URL pins it; storage enforces that in
            # production, but nothing else may pass either (an emulator, a misconfiguration).
            declared = _declared_bytes(job)
            if data.get("size") is not None:
                _check_size(declared, size)
            ops = imaging.validate_ops(job.get("ops") or [])
            options = imaging.Options.from_mapping(job.get("options") or {})
            t0 = time.perf_counter()
            payload = self._download(bucket, name, generation)
            timings["download"] = time.perf_counter() - t0
            source["source.bytes"] = len(payload)
            source["source.sha256"] = hashlib.sha256(payload).hexdigest()
            _check_size(declared, len(payload))
            limits = imaging.Limits(
                max_bytes=self.config.max_upload_bytes, max_pixels=self.config.max_pixels
            )
            try:
                result = imaging.process_image(payload, ops, options, limits)
            except (imaging.ImagingError, PermanentError):
                raise
            except Exception as exc:
                # The same bytes would fail the same way: failing the job beats a poison event.
                log_event(
                    "process.crash", severity="ERROR", job=log_ref(job_id), error=type(exc).__name__
                )
                raise PermanentError("the image could not be processed", code="internal") from exc
        except (imaging.ImagingError, PermanentError) as exc:
            timings["total"] = time.perf_counter() - started
            self._fail(
                claim,
                job_id,
                generation,
                (exc.code, exc.message),
                bucket=bucket,
                name=name,
                source=source,
                timings=timings,
            )
            return
        for key, value in result.timings.items():
            timings[key] = value
        t0 = time.perf_counter()
        result_name = self._write_result(job, job_id, name, generation, result)
        if result_name is None:
            timings["total"] = time.perf_counter() - started
            self._fail(
                claim,
                job_id,
                generation,
                (
                    "superseded",
                    "a newer generation of this object was processed first; "
                    "its result holds the name",
                ),
                bucket=bucket,
                name=name,
                source=source,
                timings=timings,
            )
            return
        timings["upload"] = time.perf_counter() - t0
        timings["total"] = time.perf_counter() - started
        now = jobs.utcnow()
        fields: dict[str, Any] = {
            "status": jobs.DONE,
            **source,
            "source.format": result.source_format,
            "source.width": result.source_width,
            "source.height": result.source_height,
            **jobs.source_retention_fields(
                origin=job.get("origin"),
                now=now,
                review_window_seconds=self.config.review_window_seconds,
                delete_originals=self.config.delete_originals,
            ),
            "result": jobs.result_fields(self.config.results_bucket, result_name, result),
            "faces": {
                "count": len(result.faces),
                "boxes": [f.to_dict() for f in result.faces],
                "unverified": result.faces_unverified,
            },
            "detector": split_detector(result.detector),
            "timings_ms": _milliseconds(timings),
            "expires_at": now + dt.timedelta(days=self.config.job_ttl_days),
            "error": firestore.DELETE_FIELD,
            **outcome_lease_fields(self.config),
        }
        finished = self.store.finish(job_id, generation, fields, token=claim.token)
        if not finished:
            self._superseded(job_id, generation, result_name, bucket=bucket, name=name)
            return
        log_event(
            "job.done",
            job=log_ref(job_id),
            generation=generation,
            origin=job.get("origin"),
            faces=len(result.faces),
            total_ms=round(timings["total"] * 1000, 1),
        )
        # An older generation's result would otherwise stay behind with no record naming it.
        self._delete_result(job.get("result"), keep=result_name)
        if self._deletes_at_once(job):
            self._delete_source(bucket, name, generation)
        self._publish(job_id, jobs.apply_fields(job, fields), leased=True)

    def _fail(
        self,
        claim: jobs.Claim,
        job_id: str,
        generation: int,
        error: tuple[str, str],
        *,
        bucket: str,
        name: str,
        source: Mapping[str, Any],
        timings: Mapping[str, float],
    ) -> None:
        fields: dict[str, Any] = {
            **source,
            # A failed job keeps no photo: the source goes right after this record.
            **jobs.failed_fields(*error),
            "timings_ms": _milliseconds(timings),
            **outcome_lease_fields(self.config),
        }
        finished = self.store.finish(job_id, generation, fields, token=claim.token)
        if not finished:
            self._superseded(job_id, generation, None, bucket=bucket, name=name)
            return
        log_event(
            "job.failed",
            severity="WARNING",
            job=log_ref(job_id),
            generation=generation,
            code=error[0],
        )
        self._delete_result(claim.job.get("result"), keep=None)
        # A drop's result name may hold what an earlier attempt of this job wrote; another
        # generation's result there stays (it is that job's outcome).
        self._delete_drop_results(job_id, claim.job, name)
        self._delete_source(bucket, name, generation)
        self._publish(job_id, jobs.apply_fields(claim.job, fields), leased=True)

    def _superseded(
        self, job_id: str, generation: int, result_name: str | None, *, bucket: str, name: str
    ) -> None:
        """Our finish lost: the job moved to a newer generation, was erased, or another holder
        of this generation took over after our lease ran out."""
        current = self.store.get(job_id)
        log_event("process.superseded", job=log_ref(job_id), generation=generation)
        if current is None or current.get("status") == jobs.DELETED:
            # Erased while we worked: whatever this attempt wrote goes, and nothing is published.
            self._erase_leftovers(job_id, bucket, name, generation)
            return
        if result_name is not None and int(current.get("generation") or 0) != generation:
            # Nobody will ever name this object: remove it rather than leave an orphan. (Only
            # API jobs get here: each generation of a drop is a job of its own.)
            self._delete_result(
                {"bucket": self.config.results_bucket, "name": result_name}, keep=None
            )

    def _erase_leftovers(self, job_id: str, bucket: str, name: str, generation: int) -> None:
        """The job is gone: remove the object generation of this event and every result."""
        self._delete_source(bucket, name, generation)
        self._delete_results_of(job_id, None)
        if api_job_of(name) is None:
            # A drop's result has the drop's name; only this job's own goes.
            jobs.delete_drop_results(
                self.clients.storage.bucket(self.config.results_bucket), name, job_id
            )

    def _after_duplicate(
        self, job_id: str, job: Mapping[str, Any], bucket: str, name: str, generation: int
    ) -> None:
        # The first delivery may have died between finishing the record and deleting the
        # original (always, for a failed job); a redelivery completes that step.
        if int(job.get("generation") or 0) != generation:
            return
        status = job.get("status")
        if status == jobs.FAILED or (status == jobs.DONE and self._deletes_at_once(job)):
            self._delete_source(bucket, name, generation)
        # The first delivery may also have died (or failed to publish) before the outcome
        # reached the topic: the record's mark says whether it did.
        if status in jobs.TERMINAL:
            self._publish(job_id, job, leased=False)

    def _deletes_at_once(self, job: Mapping[str, Any]) -> bool:
        """Whether a done job's source goes right after the record: with DELETE_ORIGINALS,
        unless it is kept for review (then gazokako/sweep.py deletes it when the window ends)."""
        review = jobs.kept_for_review(job.get("origin"), self.config.review_window_seconds)
        return self.config.delete_originals and not review

    # -- storage -------------------------------------------------------------------------------
    def _download(self, bucket: str, name: str, generation: int) -> bytes:
        blob = self.clients.storage.bucket(bucket).blob(name, generation=generation)
        try:
            with transient_on("read the source"):
                return bytes(blob.download_as_bytes())
        except gexc.NotFound as exc:
            raise PermanentError(
                "the uploaded object no longer exists", code="source_missing"
            ) from exc

    def _publish(self, job_id: str, job: Mapping[str, Any], *, leased: bool) -> None:
        """The final record's outcome to JOBS_TOPIC (if set), once per outcome. `leased`: this
        delivery wrote the record, with the publishing lease in it (`outcome_lease_fields`); any
        other delivery first takes the lease, or finds the outcome published already."""
        if not self.config.jobs_topic:
            return
        key = key_of(job_id, job)
        if job.get(jobs.OUTCOME_PUBLISHED) == key:
            return
        generation = int(job.get("generation") or 0)
        if not leased and not self.store.take_outcome(
            job_id, generation, key, lease_seconds=OUTCOME_LEASE_SECONDS
        ):
            return
        try:
            published = publish_outcome(self.clients, job_id, job)
        except TransientError:
            self.store.release_outcome(job_id)
            raise
        if published:
            log_event(
                "job.outcome_published",
                job=log_ref(job_id),
                generation=generation,
                status=job.get("status"),
            )

    def _write_result(
        self,
        job: Mapping[str, Any],
        job_id: str,
        name: str,
        generation: int,
        result: imaging.ProcessResult,
    ) -> str | None:
        """Write the result object; returns its name, or None when a drop's newer generation
        holds the name already (docs/JOBS.md, "Direct bucket drops")."""
        metadata = result_metadata(job_id, generation, len(result.faces))
        if job.get("origin") == "drop":
            result_name = drop_result_name(name, result.format)
            written = self._upload_drop_result(
                result_name, result.data, result.content_type, metadata, generation
            )
            return result_name if written else None
        result_name = result_object_name(job_id, generation, result.format)
        self._upload(result_name, result.data, result.content_type, metadata)
        return result_name

    def _upload(
        self, name: str, payload: bytes, content_type: str, metadata: Mapping[str, str]
    ) -> None:
        blob = self.clients.storage.bucket(self.config.results_bucket).blob(name)
        blob.metadata = dict(metadata)
        with transient_on("write the result"):
            blob.upload_from_string(payload, content_type=content_type)

    def _upload_drop_result(
        self,
        name: str,
        payload: bytes,
        content_type: str,
        metadata: Mapping[str, str],
        generation: int,
    ) -> bool:
        """Write a drop's result under its shared name, unless a newer generation's result is
        there: read the object's source generation, then write only if ours is not older, on
        condition that the object is still the one read (`if_generation_match`, 0: absent).
        A concurrent writer in between makes the write fail; the check runs again. False when
        a newer generation holds the name (ours is never written)."""
        bucket = self.clients.storage.bucket(self.config.results_bucket)
        for _ in range(_RESULT_CAS_ROUNDS):
            with transient_on("read the result"):
                current = bucket.get_blob(name)
            expected = 0
            if current is not None:
                if result_source_generation(current.metadata) > generation:
                    return False
                expected = int(current.generation)
            blob = bucket.blob(name)
            blob.metadata = dict(metadata)
            try:
                with transient_on("write the result"):
                    blob.upload_from_string(
                        payload, content_type=content_type, if_generation_match=expected
                    )
            except gexc.PreconditionFailed:
                continue
            return True
        raise TransientError("the result name kept changing while the result was written")

    def _delete_drop_results(self, job_id: str, job: Mapping[str, Any], name: str) -> None:
        if job.get("origin") == "drop":
            results = self.clients.storage.bucket(self.config.results_bucket)
            jobs.delete_drop_results(results, name, job_id)

    def _delete_result(self, result: object, *, keep: str | None) -> None:
        if not isinstance(result, Mapping) or not result.get("name"):
            return
        if result["name"] == keep:
            return
        bucket = str(result.get("bucket") or self.config.results_bucket)
        blob = self.clients.storage.bucket(bucket).blob(str(result["name"]))
        with transient_on("delete a result"), contextlib.suppress(gexc.NotFound):
            blob.delete()

    def _delete_results_of(self, job_id: str, generation: int | None) -> None:
        """Whatever a crashed attempt at this generation (or at any, if None) may have written."""
        prefix = results_prefix(job_id, generation)
        with transient_on("delete results"):
            for blob in self.clients.storage.list_blobs(self.config.results_bucket, prefix=prefix):
                with contextlib.suppress(gexc.NotFound):
                    blob.delete()

    def _delete_source(self, bucket: str, name: str, generation: int) -> None:
        # Only this generation: a newer upload under the same name has an event of its own.
        jobs.delete_generation(self.clients.storage.bucket(bucket), name, generation)
        log_event("process.original_deleted", generation=generation)


def _check_drop_name(job: Mapping[str, Any], name: str) -> None:
    """A drop whose result would have no valid name of its own fails before any work."""
    if job.get("origin") != "drop":
        return
    if reserved_drop_name(name):
        raise PermanentError(
            f"a drop may not be named {RESULTS_FOLDER}...: that folder holds the API's results",
            code="reserved_name",
        )
    if not drop_result_name_fits(name):
        raise PermanentError(
            f"the result name (the drop's name and an extension) would exceed "
            f"{MAX_OBJECT_NAME_BYTES} bytes",
            code="name_too_long",
        )


def _milliseconds(timings: Mapping[str, float]) -> dict[str, float]:
    """The job's `timings_ms`: each stage's seconds in milliseconds, to a tenth."""
    return {k: round(v * 1000, 1) for k, v in timings.items()}


def _declared_bytes(job: Mapping[str, Any]) -> int | None:
    """The size an API client declared; drops declare nothing of their own."""
    declared = (job.get("source") or {}).get("declared_bytes")
    if job.get("origin") != "api" or isinstance(declared, bool) or not isinstance(declared, int):
        return None
    return declared


def _check_size(declared: int | None, actual: int) -> None:
    if declared is not None and actual != declared:
        raise PermanentError(
            f"the upload has {actual} bytes but {declared} were declared", code="size_mismatch"
        )
