"""The upload API's service: issue constrained upload URLs, report jobs, erase them."""

from __future__ import annotations

import contextlib
import datetime as dt
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from google.api_core import exceptions as gexc

import imaging
from gazokako import jobs
from gazokako.clients import Clients
from gazokako.errors import (
    Conflict,
    Gone,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    TransientError,
    UnsupportedMediaType,
    transient_on,
)
from gazokako.ids import (
    is_job_id,
    new_job_id,
    owned_by,
    results_prefix,
    source_object_name,
    uploads_prefix,
)
from gazokako.review import (
    check_boxes_fit,
    face_op_of,
    parse_revision_body,
    publish_revision,
    revision_key,
)
from gazokako.signing import UrlSigner
from imaging.types import whole_number

__all__ = ["UploadService", "validate_upload_request"]

# What a client may declare; the processor trusts only the bytes (imaging sniffs them), so a
# phone's HEIC labelled image/heif or an AVIF labelled image/heic is still read correctly.
ALLOWED_CONTENT_TYPES = (
    "image/jpeg",
    "image/png",
    "image/webp",
    "image/heic",
    "image/heif",
    "image/avif",
)
MAX_FILENAME_CHARS = 255
# One message for every 404 (unknown job, malformed id, unknown route): nothing to tell apart.
NOT_FOUND_MESSAGE = "not found"
OUTPUT_FORMATS = ("jpeg", "jpg", "png", "webp")
# What GET /jobs/{id} shows of the job's source and result (api/openapi.yaml): never the
# bucket or object names, which are the server's business.
_SOURCE_FIELDS: dict[str, type | tuple[type, ...]] = {
    "content_type": str,
    "declared_bytes": int,
    "bytes": int,
    "sha256": str,
    "format": str,
    "width": int,
    "height": int,
}
_RESULT_FIELDS: dict[str, type | tuple[type, ...]] = {
    "content_type": str,
    "format": str,
    "width": int,
    "height": int,
    "bytes": int,
}
UPLOAD_FIELDS = frozenset({"filename", "content_type", "size", "ops", "options"})
# Signed into every PUT: storage accepts the write only if no object of that name exists, so
# the URL writes once (a second PUT gets 412 in production). After DELETE no object exists, so a
# PUT then succeeds; the processor finds the job erased and deletes what arrived.
SINGLE_USE_HEADER = "x-goog-if-generation-match"


def iso(value: Any) -> str | None:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    return None


_INT_OPTIONS = frozenset({"quality", "max_side", "min_face"})


def _check_filename(value: Any) -> str:
    if not isinstance(value, str) or len(value) > MAX_FILENAME_CHARS:
        raise InvalidRequest(
            f"filename must be a string of at most {MAX_FILENAME_CHARS} characters"
        )
    # The name is only shown back to its owner. Control characters (line breaks into logs and
    # headers) and lone surrogates (legal in JSON, not storable as UTF-8) become U+FFFD.
    return "".join("\ufffd" if unicodedata.category(ch) in ("Cc", "Cs") else ch for ch in value)


def validate_upload_request(
    body: Mapping[str, Any], *, max_bytes: int, default_ops: Sequence[str]
) -> tuple[str, str, int, tuple[str, ...], dict[str, Any]]:
    """Check every field of POST /uploads; returns (filename, content_type, size, ops, options)."""
    unknown = sorted(str(k) for k in body if k not in UPLOAD_FIELDS)
    if unknown:
        raise InvalidRequest(f"unknown field(s): {', '.join(unknown)[:200]}")
    filename = _check_filename(body.get("filename", ""))
    content_type = body.get("content_type")
    if not isinstance(content_type, str):
        raise InvalidRequest("content_type is required and must be a string")
    if content_type not in ALLOWED_CONTENT_TYPES:
        raise UnsupportedMediaType(
            f"content_type must be one of {', '.join(ALLOWED_CONTENT_TYPES)}"
        )
    size = whole_number(body.get("size"))
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
        raise InvalidRequest("size must be a positive integer (bytes)")
    if size > max_bytes:
        raise PayloadTooLarge(f"size {size} exceeds the maximum of {max_bytes} bytes")
    ops_raw = body.get("ops", list(default_ops))
    if not isinstance(ops_raw, list) or not all(isinstance(o, str) for o in ops_raw):
        raise InvalidRequest("ops must be a list of operation names", code="invalid_ops")
    options_raw = body.get("options", {})
    if not isinstance(options_raw, dict):
        raise InvalidRequest("options must be an object", code="invalid_options")
    options_raw = {k: whole_number(v) if k in _INT_OPTIONS else v for k, v in options_raw.items()}
    fmt = options_raw.get("format")
    if fmt is not None and fmt not in OUTPUT_FORMATS:
        # Exact names only, as api/openapi.yaml lists them (imaging would also take "JPEG").
        raise InvalidRequest(
            f"options.format must be one of {', '.join(OUTPUT_FORMATS)}", code="invalid_options"
        )
    try:
        ops = imaging.validate_ops(ops_raw)
        options = imaging.Options.from_mapping(options_raw)
    except imaging.ImagingError as exc:
        raise InvalidRequest(exc.message, code=exc.code) from exc
    if "resize" in ops and options.max_side is None:
        # The processor would fail the job later; say so now, while the client is listening.
        raise InvalidRequest("the resize operation needs options.max_side", code="invalid_options")
    return filename, content_type, size, ops, dict(options_raw)


class UploadService:
    def __init__(self, clients: Clients, signer: UrlSigner | None = None) -> None:
        self.config = clients.config
        self.clients = clients
        self.signer = signer or UrlSigner(clients.config)
        self.store = jobs.JobStore(clients.firestore)

    def issue_upload_url(self, body: Mapping[str, Any], *, base_url: str) -> dict[str, Any]:
        filename, content_type, size, ops, options_raw = validate_upload_request(
            body, max_bytes=self.config.max_upload_bytes, default_ops=self.config.default_ops
        )

        job_id = new_job_id()
        name = source_object_name(job_id)
        now = jobs.utcnow()
        blob = self.clients.storage.bucket(self.config.uploads_bucket).blob(name)
        # Pinning the exact length makes storage refuse any other body, so the declared size,
        # already checked against the maximum, is the size that lands; the generation match
        # makes the URL single-use.
        signed = self.signer.sign(
            blob,
            method="PUT",
            content_type=content_type,
            headers={
                "x-goog-content-length-range": f"{size},{size}",
                SINGLE_USE_HEADER: "0",
            },
        )
        # The job exists before the URL is handed out, so every upload the URL allows has a
        # record; it expires soon after the URL, since no upload can come later.
        self.store.create(
            job_id,
            jobs.api_job(
                job_id,
                bucket=self.config.uploads_bucket,
                ops=ops,
                options=options_raw,
                filename=filename,
                content_type=content_type,
                declared_bytes=size,
                now=now,
                expires_at=signed.expires_at + jobs.AWAITING_UPLOAD_GRACE,
            ),
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
        if job is None or job.get("status") == jobs.DELETED:
            raise NotFound(NOT_FOUND_MESSAGE)
        return job

    def describe_job(self, job_id: str) -> dict[str, Any]:
        """The public view of a job: only fields the contract names, each of its stated type."""
        job = self._job_or_404(job_id)
        out: dict[str, Any] = {
            "id": job_id,
            "status": str(job.get("status") or jobs.AWAITING_UPLOAD),
            "ops": [str(op) for op in job.get("ops") or []],
        }
        if isinstance(job.get("origin"), str):
            out["origin"] = job["origin"]
        for key in ("created_at", "updated_at"):
            stamp = iso(job.get(key))
            if stamp is not None:
                out[key] = stamp
        source = job.get("source") or {}
        out["source"] = {
            k: source[k]
            for k, kind in _SOURCE_FIELDS.items()
            if isinstance(source.get(k), kind) and not isinstance(source.get(k), bool)
        }
        if isinstance(job.get("filename"), str) and job["filename"]:
            out["source"]["filename"] = job["filename"]
        result = job.get("result")
        if (
            job.get("status") == jobs.DONE
            and isinstance(result, dict)
            and result.get("name")
            and self._result_is_its_own(job_id, job, result)
        ):
            bucket = result.get("bucket") or self.config.results_bucket
            blob = self.clients.storage.bucket(bucket).blob(result["name"])
            signed = self.signer.sign(blob, method="GET")
            out["result"] = {
                "url": signed.url,
                "url_expires_at": iso(signed.expires_at),
                **{
                    k: result[k]
                    for k, kind in _RESULT_FIELDS.items()
                    if isinstance(result.get(k), kind) and not isinstance(result.get(k), bool)
                },
            }
        faces = job.get("faces")
        if isinstance(faces, dict) and isinstance(faces.get("count"), int):
            out["faces"] = {
                "count": faces["count"],
                "boxes": [
                    {k: b[k] for k in ("x", "y", "w", "h", "score") if k in b}
                    for b in faces.get("boxes") or []
                    if isinstance(b, dict)
                ],
            }
            # Boxes redacted unexamined when the detection budget ran out (fail closed); records
            # from before the budget existed have no such field.
            if isinstance(faces.get("unverified"), int):
                out["faces"]["unverified"] = faces["unverified"]
            # A person's reviewed set (POST /jobs/{id}/revisions) or the detector's.
            out["faces"]["reviewed"] = faces.get("reviewed") is True
        out["revision"] = _revision_shown(job)
        revision_error = job.get("revision_error")
        if isinstance(revision_error, dict) and isinstance(revision_error.get("revision"), int):
            out["revision_error"] = {
                "revision": revision_error["revision"],
                "code": str(revision_error.get("code") or "failed"),
                "message": str(revision_error.get("message") or ""),
            }
        # While the original is kept for review (docs/JOBS.md): when the window closes.
        review_until = iso(job.get(jobs.REVIEW_UNTIL))
        if review_until is not None and job.get("status") != jobs.DELETED:
            out["review_until"] = review_until
        error = job.get("error")
        if isinstance(error, dict):
            out["error"] = {
                "code": str(error.get("code") or "failed"),
                "message": str(error.get("message") or ""),
            }
        return out

    def request_revision(self, job_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST /jobs/{id}/revisions: record the person's box set as the next revision and hand
        it to the process function; the answer is the job as GET shows it (`processing`, the
        new `revision`). The same set as the pending or applied revision makes no new one."""
        boxes, op = parse_revision_body(body)
        job = self._job_or_404(job_id)
        # The job's state first (the transaction below decides for good): what the boxes and
        # the operation must fit is known only once the job is done.
        self._refuse_revision_now(jobs.revision_state_refused(job, jobs.utcnow()))
        op = op or face_op_of(job.get("ops") or [])
        if op is None:
            raise InvalidRequest(
                "this job has no face operation: name one in op", code="invalid_ops"
            )
        source = job.get("source") or {}
        width, height = source.get("width"), source.get("height")
        if isinstance(width, int) and isinstance(height, int):
            check_boxes_fit(boxes, width, height)
        request = self.store.request_revision(
            job_id, key=revision_key(boxes, op), op=op, boxes=boxes
        )
        self._refuse_revision_now(request)
        if request.outcome is not jobs.RevisionOutcome.CURRENT:
            try:
                publish_revision(self.clients, job_id, request.revision)
            except TransientError:
                # Not published: the job must not wait for ever on a revision nobody renders.
                # (If even this fails, the same POST again publishes the pending revision.)
                with contextlib.suppress(TransientError):
                    self.store.withdraw_revision(job_id, request.revision)
                raise
        return self.describe_job(job_id)

    @staticmethod
    def _refuse_revision_now(request: jobs.RevisionRequest | None) -> None:
        """Raise the API's answer to a revision request that makes no revision now."""
        if request is None:
            return
        outcome = request.outcome
        if outcome is jobs.RevisionOutcome.NO_JOB:
            raise NotFound(NOT_FOUND_MESSAGE)
        if outcome is jobs.RevisionOutcome.CLOSED:
            raise Gone(f"review closed: {request.reason}")
        if outcome is jobs.RevisionOutcome.NOT_DONE and request.reason:
            raise Conflict(f"{request.reason}; retry in a few seconds")
        if outcome is jobs.RevisionOutcome.NOT_DONE:
            what = (
                f"revision {request.revision} is being rendered"
                if request.revision
                else f"the job is {request.job.get('status')}"
            )
            raise Conflict(f"{what}; a revision can be asked for once the job is done")

    def _result_is_its_own(self, job_id: str, job: dict[str, Any], result: dict[str, Any]) -> bool:
        """An API job's result name is its own for good; a drop's is shared by every generation
        of the drop, and once a newer generation's result took it over, the older job's record
        names an object that is not its result any more: no URL to it then."""
        if job.get("origin") != "drop":
            return True
        bucket = result.get("bucket") or self.config.results_bucket
        with transient_on("read the result"):
            blob = self.clients.storage.bucket(bucket).get_blob(result["name"])
        return blob is not None and owned_by(blob.metadata, job_id)

    def delete_job(self, job_id: str) -> None:
        """Erase the job: first the record (a tombstone, in one transaction), then every
        object. A processor that claims, finishes or is redelivered after the first step finds
        the tombstone and removes what it wrote, so nothing outlives this call. A second call,
        or a retry after a 503, is harmless and completes an unfinished erasure."""
        if not is_job_id(job_id):
            return
        erasure = self.store.erase(job_id)
        with transient_on("delete objects"):
            for bucket, prefix in (
                (self.config.uploads_bucket, uploads_prefix(job_id)),
                (self.config.results_bucket, results_prefix(job_id)),
            ):
                for blob in self.clients.storage.list_blobs(bucket, prefix=prefix):
                    _delete_quietly(blob)
            if erasure is not None and erasure.has_source:
                # A direct drop keeps its own name: only the generation this job processed goes,
                # a newer object of that name is another drop's.
                source_bucket = self.clients.storage.bucket(erasure.bucket)
                jobs.delete_generation(source_bucket, erasure.name, erasure.generation)
                # Its result has the drop's name, shared by every generation of the drop: it
                # goes only while it is this job's (a newer generation's result stays).
                results_bucket = self.clients.storage.bucket(self.config.results_bucket)
                jobs.delete_drop_results(results_bucket, erasure.name, job_id)
        if erasure is not None and erasure.has_source:
            self.store.erased(job_id)


def _revision_shown(job: Mapping[str, Any]) -> int:
    """The revision the job is at: the one being rendered while one is pending, else the one
    its result shows (0: the automatic result)."""
    pending = job.get(jobs.PENDING_REVISION)
    if job.get("status") == jobs.PROCESSING and isinstance(pending, Mapping):
        return int(pending.get("revision") or 0)
    revision = job.get("revision")
    return revision if isinstance(revision, int) and not isinstance(revision, bool) else 0


def _delete_quietly(blob: Any) -> None:
    with contextlib.suppress(gexc.NotFound):
        blob.delete()
