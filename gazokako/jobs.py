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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from gazokako.errors import TransientError, failure_summary, transient_on
from gazokako.ids import drop_result_names, owned_by, source_object_name

if TYPE_CHECKING:
    from imaging.types import ProcessResult

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
# DELETE /jobs/{id} happened: the document is a tombstone (see `erase`) until its TTL removes it.
DELETED = "deleted"

# A tombstone outlives every delivery that could still act on the job: Eventarc retries an event
# for up to 24 hours, and a processor holds a claim for at most a lease.
TOMBSTONE_TTL = dt.timedelta(days=2)
# An awaiting_upload job expires this long after its upload URL: the PUT cannot come later, and
# an object written after the job expired belongs to no live job.
AWAITING_UPLOAD_GRACE = dt.timedelta(minutes=5)
# A done API job's source is kept for a review until this time (REVIEW_WINDOW_SECONDS after
# its first `done`); then gazokako/sweep.py deletes it and removes the field (docs/JOBS.md).
REVIEW_UNTIL = "review_until"


class SourceDoc(TypedDict, total=False):
    """`source` of a job (docs/JOBS.md). The processor adds what it measured of the object."""

    bucket: str
    name: str
    content_type: str
    declared_bytes: int
    generation: int
    bytes: int
    sha256: str
    format: str
    width: int
    height: int
    deleted: bool


class JobDoc(TypedDict, total=False):
    """The job document `jobs/{id}` as docs/JOBS.md describes it. Made only by `api_job` and
    `drop_job`; the processor's outcomes are `done_fields` and `failed_fields`."""

    id: str
    status: str
    origin: str
    ops: list[str]
    options: dict[str, Any]
    filename: str
    source: SourceDoc
    generation: int
    revision: int
    created_at: dt.datetime
    updated_at: dt.datetime
    expires_at: dt.datetime


def api_job(
    job_id: str,
    *,
    bucket: str,
    ops: Sequence[str],
    options: Mapping[str, Any],
    filename: str,
    content_type: str,
    declared_bytes: int,
    now: dt.datetime,
    expires_at: dt.datetime,
) -> JobDoc:
    """A job made by POST /uploads: waiting for the PUT to `source_object_name(job_id)`."""
    source: SourceDoc = {
        "bucket": bucket,
        "name": source_object_name(job_id),
        "content_type": content_type,
        "declared_bytes": declared_bytes,
    }
    return _new_job(
        job_id,
        status=AWAITING_UPLOAD,
        origin="api",
        source=source,
        ops=ops,
        options=options,
        filename=filename,
        times=(now, expires_at),
    )


def drop_job(
    job_id: str,
    *,
    bucket: str,
    name: str,
    generation: int,
    ops: Sequence[str],
    filename: str,
    content_type: str,
    declared_bytes: int,
    now: dt.datetime,
    expires_at: dt.datetime,
) -> JobDoc:
    """A job made for an object dropped straight into the uploads bucket, queued for its claim.
    Its source names the object generation: the name alone is not the drop's (a later drop may
    reuse it)."""
    source: SourceDoc = {
        "bucket": bucket,
        "name": name,
        "content_type": content_type,
        "declared_bytes": declared_bytes,
        "generation": generation,
    }
    return _new_job(
        job_id,
        status=QUEUED,
        origin="drop",
        source=source,
        ops=ops,
        options={},
        filename=filename,
        times=(now, expires_at),
    )


def _new_job(
    job_id: str,
    *,
    status: str,
    origin: str,
    source: SourceDoc,
    ops: Sequence[str],
    options: Mapping[str, Any],
    filename: str,
    times: tuple[dt.datetime, dt.datetime],
) -> JobDoc:
    now, expires_at = times
    # `generation` 0: no object generation claimed yet (see JobStore.claim).
    return {
        "id": job_id,
        "status": status,
        "origin": origin,
        "ops": list(ops),
        "options": dict(options),
        "filename": filename,
        "source": source,
        "generation": 0,
        # 0: the automatic result; a person's review makes revisions 1, 2, ... (see below).
        "revision": 0,
        "created_at": now,
        "updated_at": now,
        "expires_at": expires_at,
    }


def kept_for_review(origin: object, review_window_seconds: int) -> bool:
    """Whether a done job's source outlives the record for a review: API jobs, window > 0."""
    return origin == "api" and review_window_seconds > 0


def source_retention_fields(
    *, origin: object, now: dt.datetime, review_window_seconds: int, delete_originals: bool
) -> dict[str, Any]:
    """What a `done` record says of its source: kept for review until `review_until` (API jobs,
    even with DELETE_ORIGINALS), else deleted right after the record (DELETE_ORIGINALS) or left
    to the bucket's lifecycle rule. The caller deletes it when `kept_for_review` is false and
    `delete_originals` true."""
    if kept_for_review(origin, review_window_seconds):
        return {
            "source.deleted": False,
            REVIEW_UNTIL: now + dt.timedelta(seconds=review_window_seconds),
        }
    return {"source.deleted": delete_originals, REVIEW_UNTIL: firestore.DELETE_FIELD}


def review_open(job: Mapping[str, Any], now: dt.datetime) -> bool:
    """Whether a revision may start on the job now (read inside the revision's transaction):
    done, its window not yet past, and the original not marked deleted by the sweep (which
    marks before it deletes, so a clock a little behind the sweep's cannot let one through)."""
    until = job.get(REVIEW_UNTIL)
    source = job.get("source") or {}
    return (
        job.get("status") == DONE
        and until is not None
        and until > now
        and source.get("deleted") is not True
    )


def result_fields(bucket: str, name: str, result: ProcessResult) -> dict[str, Any]:
    """`result` of a done record: where the result object is and what it is."""
    return {
        "bucket": bucket,
        "name": name,
        "bytes": len(result.data),
        "width": result.width,
        "height": result.height,
        "format": result.format,
        "content_type": result.content_type,
    }


def failed_fields(code: str, message: str) -> dict[str, Any]:
    """What every failed outcome writes (with `JobStore.finish`'s stamps): the error, and no
    result, faces or detector, not even an older generation's. A failed job keeps no photo:
    the caller deletes the source right after."""
    return {
        "status": FAILED,
        "error": {"code": code, "message": message},
        "result": firestore.DELETE_FIELD,
        "faces": firestore.DELETE_FIELD,
        "detector": firestore.DELETE_FIELD,
        "source.deleted": True,
        REVIEW_UNTIL: firestore.DELETE_FIELD,
    }


def delete_generation(bucket: Any, name: str, generation: int) -> None:
    """Storage, not the job document, but every erasure of a job's objects comes through here.

    Delete one object generation, pinned twice: `generation` names it, and
    `if_generation_match` refuses to touch the live object if it is another one. Gone already
    (404) or replaced (412) both mean there is nothing of this generation left to delete."""
    blob = bucket.blob(name, generation=generation)
    with (
        transient_on("delete an object"),
        contextlib.suppress(gexc.NotFound, gexc.PreconditionFailed),
    ):
        blob.delete(if_generation_match=generation)


def delete_drop_results(bucket: Any, source_name: str, job_id: str) -> None:
    """Delete the result of a drop job (`bucket` is the results bucket) only if it is still this
    job's: a drop's result name is shared by every generation of the drop, and a newer
    generation's result there is another job's. The object's `gazokako-job` metadata decides,
    and the delete is pinned to the generation that was read, so an object replaced meanwhile
    is left alone."""
    for name in drop_result_names(source_name):
        with transient_on("read a result"):
            blob = bucket.get_blob(name)
        if blob is None or not owned_by(blob.metadata, job_id):
            continue
        with (
            transient_on("delete a result"),
            contextlib.suppress(gexc.NotFound, gexc.PreconditionFailed),
        ):
            blob.delete(if_generation_match=blob.generation)


def _gone(job: Mapping[str, Any], written_at: dt.datetime) -> ClaimOutcome | None:
    """Why an object written at `written_at` belongs to no live job, if it does not."""
    if job.get("status") == DELETED:
        return ClaimOutcome.DELETED
    expires_at = job.get("expires_at")
    if expires_at is not None and expires_at <= written_at:
        return ClaimOutcome.EXPIRED
    return None


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
    DELETED = "deleted"  # the job was erased (DELETE /jobs/{id}): a tombstone is all that is left
    EXPIRED = "expired"  # the object was written after the job expired
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
            with transient_on(what):
                return attempt(self._db.transaction())
        except ValueError as exc:
            if _lost_race(exc):
                raise TransientError(f"could not {what}: {failure_summary(exc)}") from exc
            raise

    def _ref(self, job_id: str) -> firestore.DocumentReference:
        return self._db.collection(COLLECTION).document(job_id)

    def create(self, job_id: str, fields: JobDoc) -> None:
        with transient_on("create job"):
            self._ref(job_id).create(dict(fields))

    def get(self, job_id: str) -> dict[str, Any] | None:
        with transient_on("read job"):
            snap = self._ref(job_id).get()
        return snap.to_dict() if snap.exists else None

    def update(self, job_id: str, fields: Mapping[str, Any]) -> None:
        with transient_on("update job"):
            self._ref(job_id).update(dict(fields))

    def claim(
        self,
        job_id: str,
        generation: int,
        *,
        lease_seconds: int,
        max_attempts: int | None = None,
        written_at: dt.datetime | None = None,
        ttl: dt.timedelta | None = None,
    ) -> Claim:
        """Take ownership of processing `generation` of the job's source, or say why not.

        Decided in one transaction, so of any number of simultaneous deliveries exactly one gets
        CLAIMED. A lease that ran out (its holder crashed) is taken over; once `max_attempts`
        holders of the same generation died without an outcome, the job is failed instead.
        An erased job, or one that had expired when the object was `written_at`, is nobody's to
        process. A claimed job's `expires_at` moves `ttl` ahead, so it cannot expire mid-way.
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
            gone = _gone(job, written_at or now)
            if gone is not None:
                return Claim(gone, job)
            # A pending review revision means this generation was done before it was asked for.
            finished = status in TERMINAL or PENDING_REVISION in job
            if generation < current or (generation == current and finished):
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
                    **failed_fields(
                        "too_many_attempts",
                        f"the processor stopped {lost} times while processing "
                        "this image without an outcome",
                    ),
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
            if ttl is not None:
                fields["expires_at"] = now + ttl
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
            if not snap.exists or job.get("status") == DELETED:
                return False
            if int(job.get("generation") or 0) != generation:
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

    # -- review revisions (docs/JOBS.md, "Review") ---------------------------------------------
    def request_revision(
        self, job_id: str, *, key: str, op: str, boxes: Sequence[Mapping[str, Any]]
    ) -> RevisionRequest:
        """Record a person's box set as the job's next revision, or say why not.

        One transaction: of two simultaneous requests one gets the revision and the other sees
        it pending. The same set (same `key`) as the pending revision answers PENDING (publish
        it again: an earlier publish may have failed), as the applied one CURRENT (nothing to
        do). A revision is numbered once and never reused, so a stale event for an abandoned
        number can never act on a later revision.
        """
        ref = self._ref(job_id)

        @firestore.transactional
        def attempt(tx: firestore.Transaction) -> RevisionRequest:
            snap = ref.get(transaction=tx)
            job = snap.to_dict() or {}
            if not snap.exists or job.get("status") == DELETED:
                return RevisionRequest(RevisionOutcome.NO_JOB, {})
            now = utcnow()
            refused = _revision_refused(job, key, now)
            if refused is not None:
                return refused
            applied = int(job.get("revision") or 0)
            number = max(applied, int(job.get("revision_seq") or 0)) + 1
            fields: dict[str, Any] = {
                "status": PROCESSING,
                PENDING_REVISION: {
                    "revision": number,
                    "generation": int(job.get("generation") or 0),
                    "key": key,
                    "op": op,
                    "boxes": [dict(b) for b in boxes],
                    "requested_at": now,
                    "lost_claims": 0,
                },
                "revision_seq": number,
                "updated_at": now,
            }
            tx.update(ref, fields)
            return RevisionRequest(RevisionOutcome.ACCEPTED, {**job, **fields}, number)

        return self._transact(attempt, "record the revision")  # type: ignore[no-any-return]

    def withdraw_revision(self, job_id: str, revision: int) -> bool:
        """Undo a revision nobody has claimed yet (its publish failed): the job is `done` with
        its previous result again, so a failed publish cannot leave it pending for ever."""
        ref = self._ref(job_id)

        @firestore.transactional
        def attempt(tx: firestore.Transaction) -> bool:
            snap = ref.get(transaction=tx)
            job = snap.to_dict() or {}
            pending = job.get(PENDING_REVISION)
            if (
                not snap.exists
                or not isinstance(pending, Mapping)
                or int(pending.get("revision") or 0) != revision
                or pending.get("claim_token")
                or job.get("status") != PROCESSING
            ):
                return False
            tx.update(
                ref,
                {"status": DONE, PENDING_REVISION: firestore.DELETE_FIELD, "updated_at": utcnow()},
            )
            return True

        return self._transact(attempt, "withdraw the revision")  # type: ignore[no-any-return]

    def claim_revision(
        self, job_id: str, revision: int, *, lease_seconds: int, max_attempts: int | None = None
    ) -> Claim:
        """Take ownership of rendering `revision`, keyed on (generation, revision) as `claim`
        is on the generation: exactly one of simultaneous deliveries gets CLAIMED; a revision
        that is not the pending one (done, withdrawn, superseded) is ALREADY_FINISHED; a live
        lease is BUSY; once `max_attempts` holders died the revision fails (EXHAUSTED) and the
        previous result stands."""
        ref = self._ref(job_id)
        token = secrets.token_urlsafe(16)

        @firestore.transactional
        def attempt(tx: firestore.Transaction) -> Claim:
            snap = ref.get(transaction=tx)
            if not snap.exists:
                return Claim(ClaimOutcome.NO_JOB, {})
            job = snap.to_dict() or {}
            if job.get("status") == DELETED:
                return Claim(ClaimOutcome.DELETED, job)
            pending = job.get(PENDING_REVISION)
            if (
                not isinstance(pending, Mapping)
                or int(pending.get("revision") or 0) != revision
                or int(pending.get("generation") or 0) != int(job.get("generation") or 0)
            ):
                return Claim(ClaimOutcome.ALREADY_FINISHED, job)
            now = utcnow()
            lease_until = pending.get("lease_until")
            held = bool(pending.get("claim_token"))
            if held and lease_until is not None and lease_until > now:
                return Claim(ClaimOutcome.BUSY, job)
            lost = int(pending.get("lost_claims") or 0) + (1 if held else 0)
            if max_attempts is not None and lost >= max_attempts:
                tx.update(
                    ref,
                    {
                        **revision_failed_fields(
                            revision,
                            "too_many_attempts",
                            f"the processor stopped {lost} times while rendering this "
                            "revision without an outcome; the previous result stands",
                        ),
                        "updated_at": now,
                    },
                )
                return Claim(ClaimOutcome.EXHAUSTED, job)
            claimed = {
                **pending,
                "lease_until": now + dt.timedelta(seconds=lease_seconds),
                "claim_token": token,
                "lost_claims": lost,
                "claimed_at": now,
            }
            tx.update(ref, {PENDING_REVISION: claimed, "updated_at": now})
            return Claim(ClaimOutcome.CLAIMED, {**job, PENDING_REVISION: claimed}, token)

        return self._transact(attempt, "claim the revision")  # type: ignore[no-any-return]

    def finish_revision(
        self, job_id: str, revision: int, token: str, fields: Mapping[str, Any]
    ) -> bool:
        """Write a revision's terminal record, unless the claim is no longer this holder's (its
        lease ran out and another took over) or the job was erased."""
        ref = self._ref(job_id)

        @firestore.transactional
        def attempt(tx: firestore.Transaction) -> bool:
            snap = ref.get(transaction=tx)
            job = snap.to_dict() or {}
            pending = job.get(PENDING_REVISION)
            if (
                not snap.exists
                or job.get("status") == DELETED
                or not isinstance(pending, Mapping)
                or int(pending.get("revision") or 0) != revision
                or pending.get("claim_token") != token
            ):
                return False
            now = utcnow()
            tx.update(
                ref,
                {
                    **fields,
                    PENDING_REVISION: firestore.DELETE_FIELD,
                    "updated_at": now,
                    "finished_at": now,
                },
            )
            return True

        return self._transact(attempt, "finish the revision")  # type: ignore[no-any-return]

    def release_revision(self, job_id: str, revision: int, token: str) -> None:
        """Give up a revision's claim after a transient failure (best effort, as `release`)."""
        ref = self._ref(job_id)

        @firestore.transactional
        def attempt(tx: firestore.Transaction) -> None:
            snap = ref.get(transaction=tx)
            job = snap.to_dict() or {}
            pending = job.get(PENDING_REVISION)
            if (
                snap.exists
                and isinstance(pending, Mapping)
                and int(pending.get("revision") or 0) == revision
                and pending.get("claim_token") == token
            ):
                now = utcnow()
                released = {k: v for k, v in pending.items() if k != "claim_token"}
                released["lease_until"] = now
                tx.update(ref, {PENDING_REVISION: released, "updated_at": now})

        with contextlib.suppress(TransientError):
            self._transact(attempt, "release the revision")

    def create_drop_job(
        self, bucket: str, name: str, generation: int, fields: JobDoc, job_id: str
    ) -> tuple[str | None, bool]:
        """The job of a dropped object generation: made once, found again on any redelivery.

        The mapping document and the job are created in one transaction, so two deliveries of
        the same drop event at the same moment end with one job. Returns (job id, created); the
        id is None when that generation's job was erased (DELETE /jobs/{id}).
        """
        mapping = self._db.collection(DROPS).document(drop_key(bucket, name, generation))
        ref = self._ref(job_id)

        @firestore.transactional
        def attempt(tx: firestore.Transaction) -> tuple[str | None, bool]:
            snap = mapping.get(transaction=tx)
            if snap.exists:
                known = snap.to_dict() or {}
                if known.get("status") == DELETED:
                    return None, False
                return str(known["job_id"]), False
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

    def drop_status(self, bucket: str, name: str, generation: int) -> str | None:
        """Where a dropped object generation stands: None when it has no job yet (or its job is
        gone), DELETED when it was erased (the mapping's tombstone), PROCESSING only while a
        holder's lease is live (a lapsed one is as good as QUEUED), else the job's status."""
        with transient_on("read the dropped object's job"):
            snap = self._db.collection(DROPS).document(drop_key(bucket, name, generation)).get()
        if not snap.exists:
            return None
        known = snap.to_dict() or {}
        if known.get("status") == DELETED:
            return DELETED
        job = self.get(str(known["job_id"]))
        if job is None:
            return None
        status = str(job.get("status"))
        lease_until = job.get("lease_until")
        if status == PROCESSING and (lease_until is None or lease_until <= utcnow()):
            return QUEUED
        return status

    def mark_outcome_published(self, job_id: str, generation: int, key: str) -> None:
        """Remember that the outcome `key` (outcomes.outcome_key) is on the topic, so a
        redelivered event does not publish it again. Only while the job still records that
        generation's outcome: an erased job or a newer generation is left alone."""
        ref = self._ref(job_id)

        @firestore.transactional
        def attempt(tx: firestore.Transaction) -> None:
            snap = ref.get(transaction=tx)
            job = snap.to_dict() or {}
            if (
                snap.exists
                and job.get("status") in TERMINAL
                and int(job.get("generation") or 0) == generation
            ):
                tx.update(ref, {OUTCOME_PUBLISHED: key, OUTCOME_LEASE: firestore.DELETE_FIELD})

        self._transact(attempt, "mark the outcome published")

    def take_outcome(self, job_id: str, generation: int, key: str, *, lease_seconds: int) -> bool:
        """Whether this delivery is to publish the outcome `key` of a finished generation.

        False when it is published already (or the job moved on, or was erased); raises
        TransientError while another delivery holds the publishing lease (the delivery that
        wrote the record holds it from `finish` on), so a duplicate event arriving meanwhile
        comes back later and finds the mark; True, with the lease, when nobody holds it (its
        holder died or handed it back after a failed publish)."""
        ref = self._ref(job_id)

        @firestore.transactional
        def attempt(tx: firestore.Transaction) -> bool:
            snap = ref.get(transaction=tx)
            job = snap.to_dict() or {}
            if (
                not snap.exists
                or job.get("status") not in TERMINAL
                or int(job.get("generation") or 0) != generation
                or job.get(OUTCOME_PUBLISHED) == key
            ):
                return False
            now = utcnow()
            lease = job.get(OUTCOME_LEASE)
            if lease is not None and lease > now:
                raise TransientError("the outcome is being published by another delivery")
            tx.update(ref, {OUTCOME_LEASE: now + dt.timedelta(seconds=lease_seconds)})
            return True

        return self._transact(attempt, "take the outcome")  # type: ignore[no-any-return]

    def release_outcome(self, job_id: str) -> None:
        """Hand the publishing lease back after a failed publish, so the redelivery need not
        wait it out: it runs out now, but stays on the record (an outcome still to publish)
        until the mark removes it. Best effort: if this fails, the lease runs out on its own."""
        with contextlib.suppress(TransientError, gexc.NotFound), transient_on("release outcome"):
            self._ref(job_id).update({OUTCOME_LEASE: utcnow()})

    def erase(self, job_id: str) -> Erasure | None:
        """Record the erasure of a job before any of its objects is touched (DELETE /jobs/{id}).

        One transaction replaces the job with a tombstone that carries no filename, no faces
        and no object names, only `status: deleted` and its own `expires_at`, so every processor
        that claims, finishes or is redelivered later finds the job erased. A drop's mapping
        becomes a tombstone too (no job id, no name), so a redelivered drop event makes no new
        job. Until the caller reports the objects deleted (`erased`), a drop's tombstone keeps
        the one name that no prefix finds: its source generation. None if there is no such job.
        """
        ref = self._ref(job_id)

        @firestore.transactional
        def attempt(tx: firestore.Transaction) -> Erasure | None:
            snap = ref.get(transaction=tx)
            if not snap.exists:
                return None
            job = snap.to_dict() or {}
            if job.get("status") == DELETED:
                # Erased before; a previous DELETE may not have finished removing the drop.
                return Erasure.from_pending(job.get(PENDING_ERASURE))
            now = utcnow()
            tombstone: dict[str, Any] = {
                "status": DELETED,
                "deleted_at": now,
                "updated_at": now,
                "expires_at": now + TOMBSTONE_TTL,
            }
            erasure = Erasure()
            source = job.get("source") or {}
            if job.get("origin") == "drop" and source.get("name"):
                generation = int(source.get("generation") or job.get("generation") or 0)
                bucket, name = str(source.get("bucket") or ""), str(source["name"])
                erasure = Erasure(bucket, name, generation)
                tombstone[PENDING_ERASURE] = erasure.to_pending()
                tx.set(
                    self._db.collection(DROPS).document(drop_key(bucket, name, generation)),
                    {"status": DELETED, "deleted_at": now, "expires_at": now + TOMBSTONE_TTL},
                )
            tx.set(ref, tombstone)
            return erasure

        return self._transact(attempt, "erase job")  # type: ignore[no-any-return]

    def erased(self, job_id: str) -> None:
        """The erasure's objects are gone: the tombstone forgets the drop's name."""
        # NotFound: the tombstone's TTL came first.
        with transient_on("update the erased job"), contextlib.suppress(gexc.NotFound):
            self._ref(job_id).update({PENDING_ERASURE: firestore.DELETE_FIELD})

    # -- the review window (gazokako/sweep.py) -------------------------------------------------
    def ended_reviews(
        self, now: dt.datetime, *, limit: int, after: dt.datetime | None = None
    ) -> list[tuple[str, dt.datetime]]:
        """(id, review_until) of jobs whose review window closed by `now`, oldest first, from
        just `after` a previous page's last time if given. Range filters on one field only:
        Firestore's automatic single-field index serves them, no composite index."""
        query = self._db.collection(COLLECTION).where(filter=FieldFilter(REVIEW_UNTIL, "<=", now))
        if after is not None:
            query = query.where(filter=FieldFilter(REVIEW_UNTIL, ">", after))
        with transient_on("find ended reviews"):
            snaps = list(query.limit(limit).stream())
        return [(snap.id, snap.get(REVIEW_UNTIL)) for snap in snaps]

    def close_review(
        self, job_id: str, now: dt.datetime, *, bucket: str, delete_source: bool
    ) -> ReviewEnd:
        """End a job's review window, re-checked in a transaction, before its source is touched.

        Only a `done` (or `failed`) job whose `review_until` passed is closed; one being
        rendered again (`processing`: a revision, or a newer generation) keeps its source until
        its outcome, and the next sweep comes back to it, unless the revision is abandoned
        (`_abandoned`: its message lost): that revision fails with `review_closed` here. With
        `delete_source` the job is marked `source.deleted` first, so no revision can start on
        it, and keeps `review_until` until the caller reports the object deleted
        (`review_source_deleted`): a sweep that dies in between leaves a marked job that the
        next sweep finds and finishes. Without it the window just closes (the lifecycle rule
        removes the source)."""
        ref = self._ref(job_id)

        @firestore.transactional
        def attempt(tx: firestore.Transaction) -> ReviewEnd:
            snap = ref.get(transaction=tx)
            job = snap.to_dict() or {}
            until = job.get(REVIEW_UNTIL)
            if not snap.exists or until is None:
                return ReviewEnd(ReviewOutcome.GONE)
            if until > now:
                return ReviewEnd(ReviewOutcome.OPEN)
            source = job.get("source") or {}
            if source.get("bucket") != bucket:
                return ReviewEnd(ReviewOutcome.FOREIGN)
            status = job.get("status")
            pending = job.get(PENDING_REVISION)
            abandoned: dict[str, Any] = {}
            failed_revision = 0
            if status not in TERMINAL and isinstance(pending, Mapping) and _abandoned(pending, now):
                # A revision nobody will render (its message lost): the window is over, so it
                # fails here rather than keep the source for ever; the job is done again.
                failed_revision = int(pending.get("revision") or 0)
                abandoned = revision_failed_fields(
                    failed_revision,
                    "review_closed",
                    "the review window closed before this revision was rendered",
                )
                status = DONE
            elif status not in TERMINAL:
                return ReviewEnd(ReviewOutcome.BUSY)
            # A failed job keeps no photo, whatever DELETE_ORIGINALS says.
            if not (delete_source or status == FAILED):
                tx.update(
                    ref, {**abandoned, REVIEW_UNTIL: firestore.DELETE_FIELD, "updated_at": now}
                )
                return ReviewEnd(ReviewOutcome.CLOSED, failed_revision=failed_revision)
            end = ReviewEnd(
                ReviewOutcome.DELETE,
                bucket=bucket,
                name=str(source.get("name") or ""),
                generation=int(source.get("generation") or 0),
                failed_revision=failed_revision,
            )
            if source.get("deleted") is not True or abandoned:
                tx.update(ref, {**abandoned, "source.deleted": True, "updated_at": now})
            return end

        return self._transact(attempt, "close a review")  # type: ignore[no-any-return]

    def review_source_deleted(self, job_id: str, generation: int) -> None:
        """The source generation of a closed review is gone: the job leaves the sweep's query.
        Only if the job is still about that generation (a newer one has its own window)."""
        ref = self._ref(job_id)

        @firestore.transactional
        def attempt(tx: firestore.Transaction) -> None:
            snap = ref.get(transaction=tx)
            source = (snap.to_dict() or {}).get("source") or {}
            if (
                snap.exists
                and source.get("deleted") is True
                and int(source.get("generation") or 0) == generation
            ):
                tx.update(ref, {REVIEW_UNTIL: firestore.DELETE_FIELD})

        self._transact(attempt, "finish a closed review")


class ReviewOutcome(enum.Enum):
    DELETE = "delete"  # the window closed and the job is marked: delete the source generation
    CLOSED = "closed"  # the window closed; the source stays for the lifecycle rule
    OPEN = "open"  # the window has not closed yet
    BUSY = "busy"  # the job is being rendered again: its source stays until the outcome
    GONE = "gone"  # no job, or no window any more (closed meanwhile, erased, failed)
    FOREIGN = "foreign"  # the source is in another bucket than the sweep's


@dataclass(frozen=True)
class ReviewEnd:
    outcome: ReviewOutcome
    bucket: str = ""
    name: str = ""
    generation: int = 0
    # The abandoned revision this close failed (`review_closed`), whose outcome is to publish.
    failed_revision: int = 0


# The idempotency key (outcomes.outcome_key) of the last outcome published to JOBS_TOPIC.
OUTCOME_PUBLISHED = "outcome_published"
# Until when a delivery holds the right to publish the current outcome (see take_outcome).
OUTCOME_LEASE = "outcome_lease_until"


def apply_fields(job: Mapping[str, Any], fields: Mapping[str, Any]) -> dict[str, Any]:
    """The document `job` becomes after a Firestore update with `fields` (dotted paths set
    nested values, `DELETE_FIELD` removes): what `finish` wrote, without reading it back."""
    out = _deep_copy(job)
    for path, value in fields.items():
        *parents, leaf = path.split(".")
        node = out
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        if value is firestore.DELETE_FIELD:
            node.pop(leaf, None)
        else:
            node[leaf] = _deep_copy(value) if isinstance(value, Mapping) else value
    return out


def _deep_copy(value: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, Mapping) else v for k, v in value.items()}


# Field of a drop's tombstone while its source generation is not yet deleted.
PENDING_ERASURE = "erasing"


@dataclass(frozen=True)
class Erasure:
    """What DELETE must remove besides the job's own folders: a drop's source generation."""

    bucket: str = ""
    name: str = ""
    generation: int = 0

    @property
    def has_source(self) -> bool:
        return bool(self.bucket and self.name and self.generation > 0)

    def to_pending(self) -> dict[str, Any]:
        return {"bucket": self.bucket, "name": self.name, "generation": self.generation}

    @classmethod
    def from_pending(cls, raw: object) -> Erasure:
        if not isinstance(raw, Mapping):
            return cls()
        bucket, name = str(raw.get("bucket") or ""), str(raw.get("name") or "")
        return cls(bucket, name, int(raw.get("generation") or 0))


# -- review revisions --------------------------------------------------------------------------
# The revision a person asked for and nobody has finished: its box set, operation and claim.
PENDING_REVISION = "pending_revision"
# Longer than any render (the process function's timeout is at most 9 minutes, its lease that
# plus a minute): a pending revision untouched this long will not be rendered by anyone.
REVISION_ABANDONED_AFTER = dt.timedelta(minutes=15)
DIRECT_DROP_CLOSED = "direct drops are not kept for review: upload the photo through the API"
SOURCE_GONE = "the source photo is no longer kept, so the result cannot be rendered again"
OUTCOME_PENDING = "the job's outcome message is still being published"


class RevisionOutcome(enum.Enum):
    ACCEPTED = "accepted"  # a new revision is pending: publish it
    PENDING = "pending"  # this very set is pending already: publish it again
    CURRENT = "current"  # this very set is the applied revision: nothing to do
    NO_JOB = "no_job"  # no such job, or erased
    NOT_DONE = "not_done"  # not done yet, or another revision is pending
    CLOSED = "closed"  # the source is gone (review window over, deleted, failed) or a drop


@dataclass(frozen=True)
class RevisionRequest:
    outcome: RevisionOutcome
    job: Mapping[str, Any]
    revision: int = 0
    # Why the review is closed (CLOSED), or why not now (NOT_DONE, when it is not the status),
    # for the person asking.
    reason: str = ""


def review_closed(job: Mapping[str, Any], now: dt.datetime) -> str | None:
    """Why the job's result can no longer be rendered again from its source, if it cannot:
    a drop (never kept for review), a source marked deleted, or no open review window (see
    `review_open`: the window is `review_until`, set on `done`)."""
    if job.get("origin") != "api":
        return DIRECT_DROP_CLOSED
    source = job.get("source") or {}
    if source.get("deleted") is True:
        return SOURCE_GONE
    until = job.get(REVIEW_UNTIL)
    if not isinstance(until, dt.datetime):
        return "this job's source photo is not kept for review (no review window)"
    if until <= now:
        return "the review window of this job has closed; its source photo is being deleted"
    return None


def revision_state_refused(job: Mapping[str, Any], now: dt.datetime) -> RevisionRequest | None:
    """The refusals that depend on the job alone, whatever the box set: a job that is not done
    (409; a pending revision is the transaction's to judge), and a closed review (410)."""
    status = job.get("status")
    if job.get("origin") == "api" and PENDING_REVISION not in job and status not in TERMINAL:
        return RevisionRequest(RevisionOutcome.NOT_DONE, job)
    closed = review_closed(job, now)
    if closed is not None:
        return RevisionRequest(RevisionOutcome.CLOSED, job, reason=closed)
    if status in TERMINAL and OUTCOME_LEASE in job:
        # The outcome before it is not on JOBS_TOPIC yet (a publish failed, its event comes
        # back): a revision now would take its key, and that outcome would never be sent.
        return RevisionRequest(RevisionOutcome.NOT_DONE, job, reason=OUTCOME_PENDING)
    return None


def _revision_refused(job: Mapping[str, Any], key: str, now: dt.datetime) -> RevisionRequest | None:
    """Why a request for the revision `key` makes no new revision, if it makes none."""
    refused = revision_state_refused(job, now)
    if refused is not None:
        return refused
    pending = job.get(PENDING_REVISION)
    if isinstance(pending, Mapping):
        return _pending_refused(job, pending, key, now)
    applied = int(job.get("revision") or 0)
    if applied > 0 and job.get("revision_key") == key:
        return RevisionRequest(RevisionOutcome.CURRENT, job, applied)
    return None


def _pending_refused(
    job: Mapping[str, Any], pending: Mapping[str, Any], key: str, now: dt.datetime
) -> RevisionRequest | None:
    number = int(pending.get("revision") or 0)
    if pending.get("key") == key:
        return RevisionRequest(RevisionOutcome.PENDING, job, number)
    if not _abandoned(pending, now):
        return RevisionRequest(RevisionOutcome.NOT_DONE, job, number)
    # Nobody has worked on it for longer than any render takes: its message is lost, and the
    # job must not wait for it for ever. The new revision replaces it; should the old message
    # come after all, it is not the pending revision and does nothing.
    return None


def _abandoned(pending: Mapping[str, Any], now: dt.datetime) -> bool:
    """A pending revision that no live holder renders and that nobody asked for or claimed
    within REVISION_ABANDONED_AFTER."""
    lease_until = pending.get("lease_until")
    if pending.get("claim_token") and isinstance(lease_until, dt.datetime) and lease_until > now:
        return False
    stamps = [
        t
        for t in (pending.get("requested_at"), pending.get("claimed_at"))
        if isinstance(t, dt.datetime)
    ]
    return bool(stamps) and max(stamps) + REVISION_ABANDONED_AFTER <= now


def revision_failed_fields(revision: int, code: str, message: str) -> dict[str, Any]:
    """A revision that cannot be rendered: the job is `done` again with the result it had,
    and `revision_error` says which revision failed and why."""
    return {
        "status": DONE,
        PENDING_REVISION: firestore.DELETE_FIELD,
        "revision_error": {"revision": revision, "code": code, "message": message},
    }
