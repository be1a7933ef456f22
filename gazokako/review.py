"""Review revisions: a person's corrected face boxes, rendered again from the retained source.

Two halves share this module. The upload function checks a `POST /jobs/{id}/revisions` body
(`parse_revision_body`, `check_boxes_fit`), records the revision on the job in a transaction
(`JobStore.request_revision`) and publishes `{"id", "revision"}` to REVISIONS_TOPIC
(`publish_revision`). The process function's second entry point hands each such message to
`ReviewService`, which renders the revision with the same guarantees as the finalize path of
processing.py: claim and lease keyed on (generation, revision), a deterministic result name
per revision, the record written last, the previous result deleted only once the record names
the new one, and every failure closed (the previous, redacted result stands).

Only light modules are imported at the top: the upload function imports this module and must
not load OpenCV or numpy (imaging loads them on first use of `process_image`).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore

import imaging
from gazokako import jobs
from gazokako.clients import Clients
from gazokako.errors import InvalidRequest, PermanentError, TransientError, transient_on
from gazokako.events import MESSAGE_PUBLISHED
from gazokako.ids import (
    is_job_id,
    log_ref,
    result_metadata,
    results_prefix,
    revision_result_name,
)
from gazokako.logs import log_event
from gazokako.outcomes import outcome_lease_fields, publish_outcome
from imaging.catalog import FACE_OPS
from imaging.types import whole_number

__all__ = [
    "MAX_BOXES",
    "REVISION_EVENT",
    "ReviewService",
    "check_boxes_fit",
    "face_op_of",
    "parse_revision_body",
    "publish_revision",
    "revision_key",
    "revision_ops",
]

# The CloudEvent type of an Eventarc Pub/Sub trigger (and of the local bridge's deliveries).
REVISION_EVENT = MESSAGE_PUBLISHED
REVISION_FIELDS = frozenset({"boxes", "op"})
BOX_FIELDS = ("x", "y", "w", "h")
# A box may carry the detector's `score` back (faces.boxes round-trips); it is not used.
_BOX_OPTIONAL = frozenset({"score"})
MAX_BOXES = 256
# No image is wider or taller (JPEG's limit): a larger number is absurd whatever the image.
MAX_COORDINATE = 65535
# 256 boxes with scores fit well within this; POST /uploads keeps its own smaller limit.
MAX_BODY_BYTES = 65_536
PUBLISH_TIMEOUT_SECONDS = 30.0
# Boxes a person gave are certain: applied with this score in `faces.boxes`.
GIVEN_SCORE = 1.0


# -- the request (upload function) -------------------------------------------------------------


def parse_revision_body(body: Mapping[str, Any]) -> tuple[list[dict[str, int]], str | None]:
    """The boxes (integers, as given) and the operation named (None: the job's) of a
    revision request; every problem is an InvalidRequest that names it."""
    unknown = sorted(str(k) for k in body if k not in REVISION_FIELDS)
    if unknown:
        raise InvalidRequest(f"unknown field(s): {', '.join(unknown)[:200]}")
    raw = body.get("boxes")
    if not isinstance(raw, list):
        raise InvalidRequest("boxes is required: a list of {x, y, w, h} in source pixels")
    if len(raw) > MAX_BOXES:
        raise InvalidRequest(f"boxes has {len(raw)} entries; at most {MAX_BOXES} are allowed")
    boxes = [_parse_box(i, item) for i, item in enumerate(raw)]
    op = body.get("op")
    if op is not None and (not isinstance(op, str) or op not in FACE_OPS):
        raise InvalidRequest(f"op must be one of {', '.join(sorted(FACE_OPS))}", code="invalid_ops")
    return boxes, op


def _parse_box(index: int, item: object) -> dict[str, int]:
    where = f"boxes[{index}]"
    if not isinstance(item, Mapping):
        raise InvalidRequest(f"{where} must be an object with integer x, y, w and h")
    extra = sorted(str(k) for k in item if k not in BOX_FIELDS and k not in _BOX_OPTIONAL)
    if extra:
        raise InvalidRequest(f"{where} has unknown field(s): {', '.join(extra)[:100]}")
    box: dict[str, int] = {}
    for key in BOX_FIELDS:
        value = whole_number(item.get(key))
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidRequest(f"{where}.{key} must be an integer (source pixels)")
        box[key] = value
    score = item.get("score")
    if score is not None and (isinstance(score, bool) or not isinstance(score, int | float)):
        raise InvalidRequest(f"{where}.score must be a number")
    if box["x"] < 0 or box["y"] < 0:
        raise InvalidRequest(f"{where} starts outside the image (x and y must be >= 0)")
    if box["w"] < 1 or box["h"] < 1:
        raise InvalidRequest(f"{where} is empty (w and h must be at least 1 pixel)")
    if max(box.values()) > MAX_COORDINATE:
        raise InvalidRequest(f"{where} is larger than any image ({MAX_COORDINATE} pixels)")
    return box


def check_boxes_fit(boxes: Sequence[Mapping[str, int]], width: int, height: int) -> None:
    """Every box lies inside the upright source image of `width` x `height` pixels."""
    for index, box in enumerate(boxes):
        if box["x"] + box["w"] > width or box["y"] + box["h"] > height:
            raise InvalidRequest(
                f"boxes[{index}] reaches outside the {width}x{height} image "
                "(x + w must be <= width and y + h <= height)"
            )


def face_op_of(ops: Sequence[object]) -> str | None:
    """The job's face operation (the first, if it names several)."""
    return next((str(op) for op in ops if op in FACE_OPS), None)


def revision_ops(ops: Sequence[object], op: str) -> list[str]:
    """The job's operations with its face operation replaced by `op` (a job without one gets
    `op` first, where the boxes are still in source pixels)."""
    out: list[str] = []
    for name in (str(o) for o in ops):
        chosen = op if name in FACE_OPS else name
        if chosen == op and op in out:
            continue
        out.append(chosen)
    return out if op in out else [op, *out]


def revision_key(boxes: Sequence[Mapping[str, int]], op: str) -> str:
    """One digest per box set and operation, whatever the order of the boxes: the same body
    sent twice is one revision."""
    canonical = sorted(tuple(int(b[k]) for k in BOX_FIELDS) for b in boxes)
    return hashlib.sha256(json.dumps([op, canonical]).encode()).hexdigest()


def publish_revision(clients: Clients, job_id: str, revision: int) -> None:
    """Hand the revision to the process function through REVISIONS_TOPIC; TransientError when
    it cannot be published (the caller withdraws the revision and answers 503)."""
    topic = clients.config.revisions_topic
    if not topic:
        raise TransientError("no REVISIONS_TOPIC is configured: revisions cannot be rendered")
    data = json.dumps({"id": job_id, "revision": revision}).encode()
    try:
        future = clients.publisher.publish(clients.topic_path(topic), data)
        future.result(timeout=PUBLISH_TIMEOUT_SECONDS)
    except Exception as exc:
        # Whatever the client raised (NotFound for a missing topic, a timeout, a transport
        # error), the message may not be on the topic: the caller must not answer 202.
        raise TransientError(f"could not publish the revision: {type(exc).__name__}") from exc


# -- the render (process function) --------------------------------------------------------------
def revision_message(data: Mapping[str, Any]) -> tuple[str, int] | None:
    """(job id, revision) of a messagePublished event's data, or None when it is malformed."""
    message = data.get("message")
    if not isinstance(message, Mapping) or not isinstance(message.get("data"), str):
        return None
    try:
        payload = json.loads(base64.b64decode(message["data"], validate=True))
    except (binascii.Error, ValueError):
        return None
    if not isinstance(payload, dict):
        return None
    job_id, revision = payload.get("id"), payload.get("revision")
    if not isinstance(job_id, str) or not is_job_id(job_id):
        return None
    if isinstance(revision, bool) or not isinstance(revision, int) or revision < 1:
        return None
    return job_id, revision


FinishedHook = Callable[[str, Mapping[str, Any]], None]


class ReviewService:
    """Renders review revisions. `on_finished(job_id, job_doc)` is called once per revision
    that reached its terminal record (done or failed) with the job document as recorded: the
    single place outcome messages hook in (see `_finished`)."""

    def __init__(self, clients: Clients, *, on_finished: FinishedHook | None = None) -> None:
        self.config = clients.config
        self.clients = clients
        self.store = jobs.JobStore(clients.firestore)
        self.on_finished = on_finished

    def handle_message(self, attributes: Mapping[str, Any], data: Mapping[str, Any]) -> None:
        """One CloudEvent of the revisions topic. Returns when the event is dealt with for
        good; raises (TransientError) when it must be delivered again."""
        ce_type = attributes.get("type")
        if ce_type is not None and ce_type != REVISION_EVENT:
            log_event("review.ignored", reason=f"type {ce_type}")
            return
        parsed = revision_message(data)
        if parsed is None:
            # Retrying cannot mend a malformed message: acknowledge it.
            log_event("review.ignored", severity="WARNING", reason="malformed message")
            return
        self.process_revision(*parsed)

    def process_revision(self, job_id: str, revision: int) -> None:
        ref = log_ref(job_id)
        claim = self.store.claim_revision(
            job_id,
            revision,
            lease_seconds=self.config.lease_seconds,
            max_attempts=self.config.max_attempts,
        )
        outcome = claim.outcome
        if outcome in (jobs.ClaimOutcome.NO_JOB, jobs.ClaimOutcome.DELETED):
            # Erased: DELETE removed every object of the job, and this delivery wrote none.
            log_event("review.gone", job=ref, revision=revision)
            return
        if outcome is jobs.ClaimOutcome.ALREADY_FINISHED:
            log_event("review.duplicate", job=ref, revision=revision)
            self._tidy(job_id, claim.job)
            if _records(claim.job, revision):
                # The first delivery may have died before the outcome went out.
                self._finished(job_id, claim.job, again=True)
            return
        if outcome is jobs.ClaimOutcome.BUSY:
            raise TransientError("the revision is being rendered by another delivery")
        if outcome is jobs.ClaimOutcome.EXHAUSTED:
            log_event(
                "review.failed",
                severity="ERROR",
                job=ref,
                revision=revision,
                code="too_many_attempts",
            )
            generation = int(claim.job.get("generation") or 0)
            self._delete_revision_objects(job_id, generation, revision)
            self._finished(job_id, self.store.get(job_id) or {})
            return
        log_event("review.claimed", job=ref, revision=revision, token=claim.token[:6])
        try:
            self._run(claim, job_id, revision)
        except BaseException:
            self.store.release_revision(job_id, revision, claim.token)
            raise

    def _run(self, claim: jobs.Claim, job_id: str, revision: int) -> None:
        job = claim.job
        pending: Mapping[str, Any] = job[jobs.PENDING_REVISION]
        generation = int(pending.get("generation") or 0)
        op = str(pending.get("op") or "")
        boxes = [dict(b) for b in pending.get("boxes") or []]
        source = job.get("source") or {}
        started = time.perf_counter()
        timings: dict[str, float] = {}
        try:
            ops = imaging.validate_ops(revision_ops(job.get("ops") or [], op))
            options = imaging.Options.from_mapping(job.get("options") or {})
            t0 = time.perf_counter()
            payload = self._download(str(source.get("bucket") or ""), source, generation)
            timings["download"] = time.perf_counter() - t0
            limits = imaging.Limits(
                max_bytes=self.config.max_upload_bytes, max_pixels=self.config.max_pixels
            )
            faces = [imaging.FaceBox(b["x"], b["y"], b["w"], b["h"], GIVEN_SCORE) for b in boxes]
            try:
                result = imaging.process_image(payload, ops, options, limits, faces=faces)
            except (imaging.ImagingError, PermanentError):
                raise
            except Exception as exc:
                log_event("review.crash", severity="ERROR", job=log_ref(job_id))
                raise PermanentError("the revision could not be rendered", code="internal") from exc
        except (imaging.ImagingError, PermanentError) as exc:
            self._fail(claim, job_id, revision, exc.code, exc.message)
            return
        timings.update(result.timings)
        name = revision_result_name(job_id, generation, revision, result.format)
        t0 = time.perf_counter()
        blob = self.clients.storage.bucket(self.config.results_bucket).blob(name)
        blob.metadata = result_metadata(job_id, generation, len(result.faces))
        with transient_on("write the revision's result"):
            blob.upload_from_string(result.data, content_type=result.content_type)
        timings["upload"] = time.perf_counter() - t0
        timings["total"] = time.perf_counter() - started
        fields: dict[str, Any] = {
            "status": jobs.DONE,
            "revision": revision,
            "revision_key": pending.get("key"),
            "result": jobs.result_fields(self.config.results_bucket, name, result),
            "faces": {
                "count": len(result.faces),
                "boxes": [f.to_dict() for f in result.faces],
                "unverified": 0,
                "reviewed": True,
            },
            "timings_ms": {k: round(v * 1000, 1) for k, v in timings.items()},
            "revision_error": firestore.DELETE_FIELD,
            **outcome_lease_fields(self.config),
        }
        if not self.store.finish_revision(job_id, revision, claim.token, fields):
            self._superseded(job_id, revision, name)
            return
        log_event(
            "review.done",
            job=log_ref(job_id),
            revision=revision,
            faces=len(result.faces),
            total_ms=round(timings["total"] * 1000, 1),
        )
        # Only now that the record names the new result may the previous one go, and with it
        # whatever an abandoned older revision's dead holder wrote (no record names it).
        self._delete_result(job.get("result"), keep=name)
        done = self.store.get(job_id) or {}
        self._tidy(job_id, done)
        self._finished(job_id, done)

    def _fail(self, claim: jobs.Claim, job_id: str, revision: int, code: str, message: str) -> None:
        fields = {
            **jobs.revision_failed_fields(revision, code, message),
            **outcome_lease_fields(self.config),
        }
        if code == "review_closed":
            fields["source.deleted"] = True
        if not self.store.finish_revision(job_id, revision, claim.token, fields):
            self._superseded(job_id, revision, None)
            return
        log_event(
            "review.failed", severity="WARNING", job=log_ref(job_id), revision=revision, code=code
        )
        # A holder that died after writing this revision's object left it unnamed.
        generation = int(claim.job.get("generation") or 0)
        self._delete_revision_objects(job_id, generation, revision)
        self._finished(job_id, self.store.get(job_id) or {})

    def _finished(self, job_id: str, job_doc: Mapping[str, Any], *, again: bool = False) -> None:
        """The one place a revision reaches its terminal record (done, failed or exhausted),
        and again for a redelivered event of that revision: its outcome goes to JOBS_TOPIC
        (outcomes.publish_outcome, keyed on generation and revision; the record's mark keeps
        a redelivery from sending it twice). `on_finished`, when given, is called instead, once
        per terminal record (not `again`)."""
        if not job_doc or job_doc.get("status") not in jobs.TERMINAL:
            return
        if self.on_finished is not None:
            if not again:
                self.on_finished(job_id, job_doc)
            return
        if publish_outcome(self.clients, job_id, job_doc):
            log_event(
                "job.outcome_published",
                job=log_ref(job_id),
                generation=int(job_doc.get("generation") or 0),
                status=job_doc.get("status"),
            )

    def _superseded(self, job_id: str, revision: int, name: str | None) -> None:
        """Our finish lost: the job was erased, or our lease ran out and another holder of this
        revision took over. Remove what we wrote unless the record names it."""
        current = self.store.get(job_id)
        log_event("review.superseded", job=log_ref(job_id), revision=revision)
        if name is None:
            return
        if current is not None and current.get("status") != jobs.DELETED:
            pending = current.get(jobs.PENDING_REVISION)
            if isinstance(pending, Mapping) and int(pending.get("revision") or 0) == revision:
                # Another holder of this revision writes the same name: it is theirs now.
                return
            if (current.get("result") or {}).get("name") == name:
                return
        self._delete_result({"name": name}, keep=None)

    def _tidy(self, job_id: str, job: Mapping[str, Any]) -> None:
        """After a revision is done, and again on a duplicate delivery (the first one may have
        died between recording it and deleting the result it replaced): every older result of
        the generation that no record names is deleted."""
        result = job.get("result")
        if (
            job.get("status") != jobs.DONE
            or jobs.PENDING_REVISION in job
            or int(job.get("revision") or 0) < 1
            or not isinstance(result, Mapping)
            or not result.get("name")
        ):
            return
        applied = int(job.get("revision") or 0)
        prefix = results_prefix(job_id, int(job.get("generation") or 0))
        with transient_on("tidy the results"):
            for blob in self.clients.storage.list_blobs(self.config.results_bucket, prefix=prefix):
                # Only older results: a newer revision may be being written right now.
                older = _revision_of(blob.name[len(prefix) :]) < applied
                if blob.name != result["name"] and older:
                    with contextlib.suppress(gexc.NotFound):
                        blob.delete()

    # -- storage -------------------------------------------------------------------------------
    def _download(self, bucket: str, source: Mapping[str, Any], generation: int) -> bytes:
        if source.get("deleted") is True or not source.get("name") or generation <= 0:
            raise PermanentError(jobs.SOURCE_GONE, code="review_closed")
        blob = self.clients.storage.bucket(bucket).blob(str(source["name"]), generation=generation)
        try:
            with transient_on("read the source"):
                return bytes(blob.download_as_bytes())
        except gexc.NotFound as exc:
            raise PermanentError(jobs.SOURCE_GONE, code="review_closed") from exc

    def _delete_result(self, result: object, *, keep: str | None) -> None:
        if not isinstance(result, Mapping) or not result.get("name") or result["name"] == keep:
            return
        bucket = str(result.get("bucket") or self.config.results_bucket)
        blob = self.clients.storage.bucket(bucket).blob(str(result["name"]))
        with transient_on("delete a result"), contextlib.suppress(gexc.NotFound):
            blob.delete()

    def _delete_revision_objects(self, job_id: str, generation: int, revision: int) -> None:
        """Whatever an attempt at this revision wrote (any format), named by no record."""
        prefix = f"{results_prefix(job_id, generation)}r{revision}."
        with transient_on("delete the revision's results"):
            for blob in self.clients.storage.list_blobs(self.config.results_bucket, prefix=prefix):
                with contextlib.suppress(gexc.NotFound):
                    blob.delete()


def _revision_of(suffix: str) -> int:
    """The revision a result's name after its generation prefix belongs to: `jpg` is the
    automatic result (0), `r3.jpg` revision 3."""
    head, _, _ = suffix.partition(".")
    if head.startswith("r") and head[1:].isdigit():
        return int(head[1:])
    return 0


def _records(job: Mapping[str, Any], revision: int) -> bool:
    """Whether the job's terminal record is this revision's (done with it, or failed on it)."""
    if jobs.PENDING_REVISION in job or job.get("status") not in jobs.TERMINAL:
        return False
    failed = job.get("revision_error")
    return job.get("revision") == revision or (
        isinstance(failed, Mapping) and failed.get("revision") == revision
    )
