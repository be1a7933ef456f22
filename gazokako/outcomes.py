"""The outcome topic (JOBS_TOPIC): one message per terminal outcome, for automation.

The process function publishes a message after the job record of a generation is final (`done`
or `failed`), built from that record alone, so a subscriber needs no Firestore read. Delivery
is at-least-once: the job remembers the key of the outcome it published (`outcome_published`),
and a redelivered event publishes again only when that mark is missing (a crash or a failed
write between the record and the mark). A subscriber deduplicates on the key, which is in the
body and in the attribute `outcome_key`. The message carries no secret (no signed URL); the
job id in it is the job's capability, so the topic's subscribers are as trusted as readers of
the `jobs` collection. docs/JOBS.md documents the schema.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any, Protocol

from google.api_core import exceptions as gexc

from gazokako import jobs
from gazokako.config import Config
from gazokako.errors import TransientError

__all__ = ["key_of", "outcome_key", "outcome_lease_fields", "outcome_message", "publish_outcome"]

# How long one publish may take before the event is handed back for a redelivery.
PUBLISH_TIMEOUT_SECONDS = 30.0
# How long the delivery that publishes holds that right (jobs.JobStore.take_outcome): longer
# than a publish may take, so a duplicate event waits rather than publishing a second copy.
OUTCOME_LEASE_SECONDS = 60
# What a publish may fail with: the API's errors, and the future's own timeout.
_PUBLISH_ERRORS: tuple[type[BaseException], ...] = (
    gexc.GoogleAPIError,
    TimeoutError,
    ConnectionError,
)


def outcome_lease_fields(config: Config) -> dict[str, Any]:
    """What a final record (a generation's, or a review revision's) holds besides the outcome
    when there is a topic to publish to: the publishing lease of the delivery that writes it
    (jobs.JobStore.take_outcome). It stays on the record until the outcome is marked published,
    so a revision is not accepted while the outcome before it is still unpublished
    (jobs.revision_state_refused)."""
    if not config.jobs_topic:
        return {}
    return {jobs.OUTCOME_LEASE: jobs.utcnow() + dt.timedelta(seconds=OUTCOME_LEASE_SECONDS)}


class _Publishing(Protocol):
    """What publish_outcome needs of `gazokako.clients.Clients` (the fakes have it too)."""

    @property
    def config(self) -> Config: ...

    @property
    def publisher(self) -> Any: ...

    @property
    def firestore(self) -> Any: ...

    def topic_path(self, topic_id: str) -> str: ...


def outcome_key(job_id: str, generation: int, revision: int) -> str:
    """The idempotency key of one outcome: `{id}:{generation}:{revision}`. Every delivery of
    the same outcome has the same key; a newer generation (or review revision) has another."""
    return f"{job_id}:{generation}:{revision}"


def _revision(job: Mapping[str, Any]) -> int:
    value = job.get("revision")
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _failed_revision(job: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The review revision that failed after the applied result, if that is the record's latest
    outcome: the job is `done` again with its previous result, but the revision's own outcome
    is a failure (a later revision that is done removes `revision_error`)."""
    failed = job.get("revision_error")
    if job.get("status") != jobs.DONE or not isinstance(failed, Mapping):
        return None
    number = failed.get("revision")
    if not isinstance(number, int) or isinstance(number, bool) or number <= _revision(job):
        return None
    return failed


def _latest(job: Mapping[str, Any]) -> tuple[str, int, Mapping[str, Any] | None]:
    """(status, revision, error) of the latest outcome the final record holds."""
    failed = _failed_revision(job)
    if failed is not None:
        return jobs.FAILED, int(failed["revision"]), failed
    status = str(job.get("status") or "")
    error = job.get("error")
    return status, _revision(job), error if isinstance(error, Mapping) else None


def key_of(job_id: str, job: Mapping[str, Any]) -> str:
    """The idempotency key of the outcome a final record describes."""
    return outcome_key(job_id, int(job.get("generation") or 0), _latest(job)[1])


def outcome_message(job_id: str, job: Mapping[str, Any]) -> tuple[bytes, dict[str, str]]:
    """(JSON body, attributes) of the outcome of a final job record."""
    if job.get("status") not in jobs.TERMINAL:
        raise ValueError(f"an outcome needs a terminal job, not {job.get('status')!r}")
    status, revision, error = _latest(job)
    origin = str(job.get("origin") or "")
    generation = int(job.get("generation") or 0)
    key = outcome_key(job_id, generation, revision)
    source = job.get("source") or {}
    body: dict[str, Any] = {
        "id": job_id,
        "key": key,
        "status": status,
        "origin": origin,
        "ops": [str(op) for op in job.get("ops") or []],
        "source": {
            "bucket": str(source.get("bucket") or ""),
            "name": str(source.get("name") or ""),
            "generation": int(source.get("generation") or generation),
        },
        "revision": revision,
    }
    if status == jobs.DONE:
        result = job.get("result") or {}
        faces = job.get("faces") or {}
        body["result"] = {
            "bucket": str(result.get("bucket") or ""),
            "name": str(result.get("name") or ""),
            "content_type": str(result.get("content_type") or ""),
            "width": int(result.get("width") or 0),
            "height": int(result.get("height") or 0),
        }
        body["faces"] = int(faces.get("count") or 0)
    else:
        error = error or {}
        body["error"] = {
            "code": str(error.get("code") or "failed"),
            "message": str(error.get("message") or ""),
        }
        body["faces"] = None
    attributes = {"status": status, "origin": origin, "outcome_key": key}
    data = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
    return data, attributes


def publish_outcome(clients: _Publishing, job_id: str, job: Mapping[str, Any]) -> bool:
    """Publish the outcome of the final record `job` to JOBS_TOPIC, unless the record says it
    was published already; then mark it published. False (nothing sent) without a topic or
    when the mark is there. A failed publish raises TransientError: the event comes back, and
    its redelivery (which finds the job finished) publishes."""
    topic = clients.config.jobs_topic
    if not topic:
        return False
    data, attributes = outcome_message(job_id, job)
    key = attributes["outcome_key"]
    if job.get(jobs.OUTCOME_PUBLISHED) == key:
        return False
    try:
        future = clients.publisher.publish(clients.topic_path(topic), data, **attributes)
        future.result(timeout=PUBLISH_TIMEOUT_SECONDS)
    except _PUBLISH_ERRORS as exc:
        raise TransientError(f"could not publish the outcome: {type(exc).__name__}") from exc
    jobs.JobStore(clients.firestore).mark_outcome_published(
        job_id, int(job.get("generation") or 0), key
    )
    return True
