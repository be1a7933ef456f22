"""The job document `jobs/{id}`: the contract between the API, the processor and automation.

Fields are documented in docs/JOBS.md. Every write that decides who processes an object runs in
a Firestore transaction keyed on the object's generation, so duplicate or concurrent events
resolve to one owner and one outcome.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore

from gazokako.errors import TransientError

COLLECTION = "jobs"
# (bucket, object name, generation) of a direct bucket drop -> its job id; see create_drop_job.
DROPS = "drops"

AWAITING_UPLOAD = "awaiting_upload"
# A direct bucket drop whose object is there but not yet claimed.
QUEUED = "queued"
PROCESSING = "processing"
DONE = "done"
FAILED = "failed"
TERMINAL = frozenset({DONE, FAILED})

# Errors worth a retry: the service was briefly unavailable or slow, or a transaction lost a race.
RETRYABLE = (
    gexc.ServerError,
    gexc.TooManyRequests,
    gexc.DeadlineExceeded,
    gexc.ServiceUnavailable,
    gexc.Aborted,
    gexc.Conflict,
    ConnectionError,
    TimeoutError,
)


def _lost_race(exc: ValueError) -> bool:
    # google-cloud-firestore gives up on a contended transaction with a bare ValueError.
    return str(exc).startswith("Failed to commit transaction")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class ClaimOutcome(enum.Enum):
    CLAIMED = "claimed"  # this delivery owns the work
    ALREADY_FINISHED = "already_finished"  # this generation (or a newer one) has its outcome
    BUSY = "busy"  # another delivery holds a live lease on this generation
    NO_JOB = "no_job"  # no job document of that id
    EXHAUSTED = "exhausted"  # too many holders of this generation died: the job was failed


@dataclass(frozen=True)
class Claim:
    outcome: ClaimOutcome
    job: Mapping[str, Any]
    # Names this claim; only its holder may finish or release the job (see `finish`).
    token: str = ""


def drop_key(bucket: str, name: str, generation: int) -> str:
    """Document id of a dropped object's mapping: object names may hold '/', ids may not."""
    return hashlib.sha256(f"{bucket}\n{name}\n{generation}".encode()).hexdigest()


class JobStore:
    def __init__(self, db: firestore.Client) -> None:
        self._db = db

    def _transact(self, attempt: Any, what: str) -> Any:
        """Run a @firestore.transactional function; platform failures become transient.

        The decorator's result is untyped, so callers' own return types carry the types.
        """
        try:
            return attempt(self._db.transaction())
        except RETRYABLE as exc:
            raise TransientError(f"could not {what}: {exc}") from exc
        except ValueError as exc:
            if _lost_race(exc):
                raise TransientError(f"could not {what}: {exc}") from exc
            raise

    def _ref(self, job_id: str) -> firestore.DocumentReference:
        return self._db.collection(COLLECTION).document(job_id)

    def create(self, job_id: str, fields: Mapping[str, Any]) -> None:
        try:
            self._ref(job_id).create(dict(fields))
        except RETRYABLE as exc:
            raise TransientError(f"could not create job: {exc}") from exc

    def get(self, job_id: str) -> dict[str, Any] | None:
        try:
            snap = self._ref(job_id).get()
        except RETRYABLE as exc:
            raise TransientError(f"could not read job: {exc}") from exc
        return snap.to_dict() if snap.exists else None

    def update(self, job_id: str, fields: Mapping[str, Any]) -> None:
        try:
            self._ref(job_id).update(dict(fields))
        except RETRYABLE as exc:
            raise TransientError(f"could not update job: {exc}") from exc

    def delete(self, job_id: str) -> None:
        try:
            self._ref(job_id).delete()
        except RETRYABLE as exc:
            raise TransientError(f"could not delete job: {exc}") from exc

    def claim(
        self,
        job_id: str,
        generation: int,
        *,
        lease_seconds: int,
        max_attempts: int | None = None,
    ) -> Claim:
        """Take ownership of processing `generation` of the job's source, or say why not.

        Decided in one transaction, so of any number of simultaneous deliveries exactly one gets
        CLAIMED. A lease that ran out (its holder crashed) is taken over; once `max_attempts`
        holders of the same generation died without an outcome, the job is failed instead.
        """
        ref = self._ref(job_id)
        token = secrets.token_urlsafe(16)

        @firestore.transactional
        def attempt(tx: firestore.Transaction) -> Claim:
            snap = ref.get(transaction=tx)
            if not snap.exists:
                return Claim(ClaimOutcome.NO_JOB, {})
            job = snap.to_dict() or {}
            current = int(job.get("generation") or 0)
            status = job.get("status")
            now = utcnow()
            if generation < current or (generation == current and status in TERMINAL):
                return Claim(ClaimOutcome.ALREADY_FINISHED, job)
            same = generation == current and status == PROCESSING
            lease_until = job.get("lease_until")
            if same and lease_until is not None and lease_until > now:
                return Claim(ClaimOutcome.BUSY, job)
            attempts = int(job.get("attempts") or 0) + 1 if same else 1
            # A claim still holding its token was neither finished nor released: its holder died
            # (a transient error releases the claim and does not count here).
            lost = int(job.get("lost_claims") or 0) if same else 0
            if same and job.get("claim_token"):
                lost += 1
            if max_attempts is not None and lost >= max_attempts:
                failed = {
                    "status": FAILED,
                    "error": {
                        "code": "too_many_attempts",
                        "message": f"the processor stopped {lost} times while processing "
                        "this image without an outcome",
                    },
                    "result": firestore.DELETE_FIELD,
                    "faces": firestore.DELETE_FIELD,
                    "detector": firestore.DELETE_FIELD,
                    "lease_until": firestore.DELETE_FIELD,
                    "claim_token": firestore.DELETE_FIELD,
                    "updated_at": now,
                    "finished_at": now,
                }
                tx.update(ref, failed)
                # The job as it was: its result (if any) is now unnamed and must be removed.
                return Claim(ClaimOutcome.EXHAUSTED, job)
            fields = {
                "status": PROCESSING,
                "generation": generation,
                "lease_until": now + dt.timedelta(seconds=lease_seconds),
                "claim_token": token,
                "attempts": attempts,
                "lost_claims": lost,
                "claimed_at": now,
                "updated_at": now,
            }
            tx.update(ref, fields)
            return Claim(ClaimOutcome.CLAIMED, {**job, **fields}, token)

        return self._transact(attempt, "claim job")  # type: ignore[no-any-return]

    def finish(
        self,
        job_id: str,
        generation: int,
        fields: Mapping[str, Any],
        *,
        token: str | None = None,
    ) -> bool:
        """Write the terminal record, unless the job moved on (a newer generation, or another
        holder of the same generation after this one's lease ran out, or it was deleted)."""
        ref = self._ref(job_id)

        @firestore.transactional
        def attempt(tx: firestore.Transaction) -> bool:
            snap = ref.get(transaction=tx)
            job = snap.to_dict() or {}
            if not snap.exists or int(job.get("generation") or 0) != generation:
                return False
            if token is not None and job.get("claim_token") != token:
                return False
            now = utcnow()
            tx.update(
                ref,
                {
                    **fields,
                    "lease_until": firestore.DELETE_FIELD,
                    "claim_token": firestore.DELETE_FIELD,
                    "updated_at": now,
                    "finished_at": now,
                },
            )
            return True

        return self._transact(attempt, "finish job")  # type: ignore[no-any-return]

    def release(self, job_id: str, generation: int, token: str) -> None:
        """Give up a claim after a transient failure, so the redelivery need not wait out the
        lease. Best effort: if this write fails too, the lease runs out on its own."""
        ref = self._ref(job_id)

        @firestore.transactional
        def attempt(tx: firestore.Transaction) -> None:
            snap = ref.get(transaction=tx)
            job = snap.to_dict() or {}
            if (
                snap.exists
                and int(job.get("generation") or 0) == generation
                and job.get("claim_token") == token
            ):
                now = utcnow()
                tx.update(
                    ref,
                    {
                        "lease_until": now,
                        "claim_token": firestore.DELETE_FIELD,
                        "updated_at": now,
                    },
                )

        # Best effort: if the release fails, the lease running out frees the job all the same.
        with contextlib.suppress(TransientError):
            self._transact(attempt, "release job")

    def create_drop_job(
        self, bucket: str, name: str, generation: int, fields: Mapping[str, Any], job_id: str
    ) -> tuple[str, bool]:
        """The job of a dropped object generation: made once, found again on any redelivery.

        The mapping document and the job are created in one transaction, so two deliveries of
        the same drop event at the same moment end with one job. Returns (job id, created).
        """
        mapping = self._db.collection(DROPS).document(drop_key(bucket, name, generation))
        ref = self._ref(job_id)

        @firestore.transactional
        def attempt(tx: firestore.Transaction) -> tuple[str, bool]:
            snap = mapping.get(transaction=tx)
            if snap.exists:
                return str((snap.to_dict() or {})["job_id"]), False
            tx.create(ref, dict(fields))
            tx.create(
                mapping,
                {
                    "job_id": job_id,
                    "bucket": bucket,
                    "name": name,
                    "generation": generation,
                    "created_at": fields.get("created_at"),
                    "expires_at": fields.get("expires_at"),
                },
            )
            return job_id, True

        return self._transact(attempt, "record the dropped object")  # type: ignore[no-any-return]
