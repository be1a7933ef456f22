"""The job document `jobs/{id}`: the contract between the API, the processor and automation.

Fields are documented in docs/JOBS.md. Every write that decides who processes an object runs in
a Firestore transaction keyed on the object's generation, so duplicate or concurrent events
resolve to one owner and one outcome.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore

from gazokako.errors import TransientError

COLLECTION = "jobs"

AWAITING_UPLOAD = "awaiting_upload"
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


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class ClaimOutcome(enum.Enum):
    CLAIMED = "claimed"  # this delivery owns the work
    ALREADY_FINISHED = "already_finished"  # this generation (or a newer one) has its outcome
    BUSY = "busy"  # another delivery holds a live lease on this generation
    NO_JOB = "no_job"  # no job document of that id


@dataclass(frozen=True)
class Claim:
    outcome: ClaimOutcome
    job: Mapping[str, Any]


class JobStore:
    def __init__(self, db: firestore.Client) -> None:
        self._db = db

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

    def claim(self, job_id: str, generation: int, *, lease_seconds: int) -> Claim:
        """Take ownership of processing `generation` of the job's source, or say why not."""
        ref = self._ref(job_id)

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
            lease_until = job.get("lease_until")
            if (
                generation == current
                and status == PROCESSING
                and lease_until is not None
                and lease_until > now
            ):
                return Claim(ClaimOutcome.BUSY, job)
            fields = {
                "status": PROCESSING,
                "generation": generation,
                "lease_until": now + dt.timedelta(seconds=lease_seconds),
                "attempts": firestore.Increment(1),
                "updated_at": now,
            }
            tx.update(ref, fields)
            return Claim(ClaimOutcome.CLAIMED, {**job, **fields})

        try:
            return attempt(self._db.transaction())  # type: ignore[no-any-return]
        except RETRYABLE as exc:
            raise TransientError(f"could not claim job: {exc}") from exc

    def finish(self, job_id: str, generation: int, fields: Mapping[str, Any]) -> bool:
        """Write the terminal record, unless a newer generation took the job meanwhile."""
        ref = self._ref(job_id)

        @firestore.transactional
        def attempt(tx: firestore.Transaction) -> bool:
            snap = ref.get(transaction=tx)
            job = snap.to_dict() or {}
            if not snap.exists or int(job.get("generation") or 0) != generation:
                return False
            tx.update(
                ref, {**fields, "lease_until": firestore.DELETE_FIELD, "updated_at": utcnow()}
            )
            return True

        try:
            return attempt(self._db.transaction())  # type: ignore[no-any-return]
        except RETRYABLE as exc:
            raise TransientError(f"could not finish job: {exc}") from exc
