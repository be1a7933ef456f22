"""The review window's end: delete the sources kept for review once their window has closed.

A done API job keeps its source for REVIEW_WINDOW_SECONDS (its `review_until`, docs/JOBS.md),
so a person can have the photo rendered again from it. Bucket lifecycle rules count in days, so
something must come by every few minutes: in production Cloud Scheduler publishes to a topic
whose Eventarc trigger runs `sweep_reviews` (functions/process/main.py, docs/DEPLOY.md);
locally the dev stack runs `devstack.sweeper` on a period. Both call `sweep_review_sources`.

Each job is closed in a transaction before its object is touched (`JobStore.close_review`):
one being rendered again (`processing`) is skipped and comes back on a later run, and a job
marked `source.deleted` keeps `review_until` until its object is gone, so a sweep that dies
between the two steps leaves nothing the next one does not find. Deletes are generation-pinned
(`jobs.delete_generation`) and idempotent.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

from gazokako import jobs
from gazokako.clients import Clients
from gazokako.errors import TransientError
from gazokako.ids import log_ref
from gazokako.logs import log_event
from gazokako.outcomes import publish_outcome

__all__ = ["DEFAULT_LIMIT", "DEFAULT_PAGES", "SweepSummary", "sweep_review_sources"]

# Jobs per page, and pages per run: about 50 ms a job (measured on the emulators), so a run of
# 3000 stays well inside the sweep function's timeout (infra/sweep.tf); a run every few minutes
# meets the windows that closed since the last one, and a backlog beyond is the next run's.
DEFAULT_LIMIT = 500
DEFAULT_PAGES = 6


@dataclass
class SweepSummary:
    """What one run did, by job: counts only (a job id is never logged)."""

    found: int = 0  # jobs whose review_until had passed when the run queried
    deleted: int = 0  # sources deleted, their jobs marked source.deleted
    closed: int = 0  # windows closed with the source left to the lifecycle rule
    busy: int = 0  # being rendered again: left for a later run
    open: int = 0  # window reopened meanwhile (a newer generation): left alone
    gone: int = 0  # erased, expired or closed by another run meanwhile
    foreign: int = 0  # the source lies in another bucket than this deployment's
    retry: int = 0  # a transient error: the job is left for the next run

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def sweep_review_sources(
    clients: Clients,
    *,
    now: dt.datetime | None = None,
    limit: int = DEFAULT_LIMIT,
    pages: int = DEFAULT_PAGES,
) -> SweepSummary:
    """Delete the source of every job whose review window closed by `now` (default: the clock).

    With DELETE_ORIGINALS off the windows are closed and the sources left to the bucket's
    lifecycle rule. A page is `limit` jobs in `review_until` order; up to `pages` pages are
    taken, each starting after the last one's latest time, so jobs that stay in the query
    (being rendered again, another bucket's) never hold up the others. Raises TransientError
    only if a query fails; a job that fails is left for the next run.
    """
    store = jobs.JobStore(clients.firestore)
    now = now or jobs.utcnow()
    summary = SweepSummary()
    after: dt.datetime | None = None
    more = False
    for _ in range(pages):
        page = store.ended_reviews(now, limit=limit, after=after)
        summary.found += len(page)
        for job_id, _until in page:
            try:
                outcome = _sweep_one(clients, store, job_id, now)
            except TransientError:
                outcome = "retry"
            setattr(summary, outcome, getattr(summary, outcome) + 1)
        more = len(page) >= limit
        if not more:
            break
        # Jobs sharing the last time to the microsecond beyond this page wait for the next run.
        after = page[-1][1]
    log_event(
        "sweep.done",
        found=summary.found,
        deleted=summary.deleted,
        closed=summary.closed,
        busy=summary.busy,
        open=summary.open,
        gone=summary.gone,
        foreign=summary.foreign,
        retry=summary.retry,
        more=more,
    )
    return summary


def _sweep_one(clients: Clients, store: jobs.JobStore, job_id: str, now: dt.datetime) -> str:
    config = clients.config
    end = store.close_review(
        job_id, now, bucket=config.uploads_bucket, delete_source=config.delete_originals
    )
    if end.outcome is jobs.ReviewOutcome.CLOSED and end.failed_revision:
        _publish(clients, store, job_id)
    if end.outcome is not jobs.ReviewOutcome.DELETE:
        return str(end.outcome.value)
    if end.name:
        jobs.delete_generation(clients.storage.bucket(end.bucket), end.name, end.generation)
    # Before the job leaves the query: a publish that fails is tried again by the next run.
    _publish(clients, store, job_id)
    store.review_source_deleted(job_id, end.generation)
    return "deleted"


def _publish(clients: Clients, store: jobs.JobStore, job_id: str) -> None:
    """The outcome of a revision this sweep failed (abandoned: its message never came), which
    no other part will publish; a no-op for a job whose outcome is marked published already."""
    if not clients.config.jobs_topic:
        return
    job = store.get(job_id)
    if job and publish_outcome(clients, job_id, job):
        log_event("job.outcome_published", job=log_ref(job_id), status=job.get("status"))
