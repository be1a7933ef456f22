"""The review window on both backends: a done API job keeps its source until `review_until`, then
gazokako/sweep.py deletes it (generation-pinned, in a transaction that re-checks the job first),
skipping jobs whose window is open and jobs being rendered again, and finishing what a sweep that
died half-way left. The local stack's periodic sweep: tests/e2e/test_review_window.py."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from typing import Any

import pytest

from gazokako import jobs
from gazokako.errors import TransientError
from gazokako.ids import source_object_name
from gazokako.sweep import sweep_review_sources
from gazokako.uploads import UploadService
from tests.process.conftest import World
from tests.support.corpus import skimage_image
from tests.support.topics import TopicReader

WINDOW = 60
SECOND = dt.timedelta(seconds=1)


@pytest.fixture
def fresh_bucket(backend: str, request: pytest.FixtureRequest) -> Callable[[], str]:
    """An uploads bucket of the test's own: on the emulator the sweep's query sees every job of
    the session, and only this bucket's are the test's (the others count as foreign)."""

    def make() -> str:
        name = f"review-{secrets.token_hex(4)}"
        if backend == "emulator":
            request.getfixturevalue("stack_handle").create_bucket(name)
        return name

    return make


@pytest.fixture
def review_world(make_world: Callable[..., World], fresh_bucket: Callable[[], str]) -> World:
    return make_world(
        uploads_bucket=fresh_bucket(), delete_originals=True, review_window_seconds=WINDOW
    )


def _done_api_job(world: World) -> tuple[str, dict[str, Any]]:
    job_id = world.new_api_job(["grayscale"])
    data = world.put(source_object_name(job_id), skimage_image("coffee.png"))
    world.deliver(data)
    return job_id, data


def _source_there(world: World, data: dict[str, Any]) -> bool:
    blob = world.clients.storage.bucket(data["bucket"]).get_blob(data["name"])
    return blob is not None


def _counts(summary: Any) -> dict[str, int]:
    """The summary without `found` and `foreign`: on the emulator those count other tests' jobs."""
    counts = summary.as_dict()
    counts.pop("found")
    counts.pop("foreign")
    return {k: v for k, v in counts.items() if v}


def test_a_done_api_job_keeps_its_source_until_the_window_closes(review_world: World) -> None:
    world = review_world
    job_id, data = _done_api_job(world)
    job = world.job(job_id)
    # Kept even with DELETE_ORIGINALS: the window is counted from the done record.
    assert job["status"] == "done" and job["source"]["deleted"] is False
    until = job["review_until"]
    assert job["finished_at"] <= until <= job["finished_at"] + dt.timedelta(seconds=WINDOW)
    assert until >= job["finished_at"] + dt.timedelta(seconds=WINDOW) - SECOND
    assert _source_there(world, data)

    # Before the window closes the sweep leaves it alone.
    assert _counts(sweep_review_sources(world.clients, now=until - SECOND)) == {}
    assert _source_there(world, data) and world.job(job_id) == job

    summary = sweep_review_sources(world.clients, now=until)
    assert _counts(summary) == {"deleted": 1}
    assert not _source_there(world, data)
    swept = world.job(job_id)
    assert swept["source"]["deleted"] is True and "review_until" not in swept
    assert (swept["status"], swept["result"]) == ("done", job["result"])

    # Idempotent: a second run finds nothing and changes nothing.
    assert _counts(sweep_review_sources(world.clients, now=until + SECOND)) == {}
    assert world.job(job_id) == swept


def test_a_redelivered_event_inside_the_window_keeps_the_source(review_world: World) -> None:
    world = review_world
    job_id, data = _done_api_job(world)
    world.deliver(data)
    assert _source_there(world, data)
    assert world.job(job_id)["source"]["deleted"] is False


def test_no_window_deletes_at_once_as_before(
    make_world: Callable[..., World], fresh_bucket: Callable[[], str]
) -> None:
    world = make_world(
        uploads_bucket=fresh_bucket(), delete_originals=True, review_window_seconds=0
    )
    job_id, data = _done_api_job(world)
    job = world.job(job_id)
    assert job["source"]["deleted"] is True and "review_until" not in job
    assert not _source_there(world, data)


def test_failed_jobs_and_drops_are_not_kept_for_review(review_world: World) -> None:
    world = review_world
    failed_id = world.new_api_job(["grayscale"])
    failed = world.put(source_object_name(failed_id), b"GIF89a not really", "image/gif")
    world.deliver(failed)
    drop = world.put("inbox/photo.png", skimage_image("coffee.png"), metadata={"ops": "grayscale"})
    world.deliver(drop)
    (drop_job,) = world.drop_jobs("inbox/photo.png")
    for job, data in ((world.job(failed_id), failed), (drop_job, drop)):
        assert job["status"] in ("failed", "done") and job["source"]["deleted"] is True
        assert "review_until" not in job
        assert not _source_there(world, data)


def test_a_job_being_rendered_again_keeps_its_source(review_world: World) -> None:
    """A revision in progress (status `processing`, review_until kept) is skipped; once its
    outcome is written the next run deletes the source."""
    world = review_world
    job_id, data = _done_api_job(world)
    until = world.job(job_id)["review_until"]
    world.store.update(job_id, {"status": jobs.PROCESSING})
    assert _counts(sweep_review_sources(world.clients, now=until + SECOND)) == {"busy": 1}
    assert _source_there(world, data)
    job = world.job(job_id)
    assert job["source"]["deleted"] is False and job["review_until"] == until

    world.store.update(job_id, {"status": jobs.DONE})
    assert _counts(sweep_review_sources(world.clients, now=until + SECOND)) == {"deleted": 1}
    assert not _source_there(world, data)


@pytest.fixture
def review_topic_world(
    make_topic_world: Callable[..., tuple[World, TopicReader]], fresh_bucket: Callable[[], str]
) -> tuple[World, TopicReader]:
    """review_world with a JOBS_TOPIC of the test's own, and a reader of that topic."""
    return make_topic_world(
        uploads_bucket=fresh_bucket(), delete_originals=True, review_window_seconds=WINDOW
    )


def test_an_abandoned_revision_does_not_keep_the_source_for_ever(
    review_topic_world: tuple[World, TopicReader],
) -> None:
    """A revision whose message was lost (pending, unclaimed, older than
    REVISION_ABANDONED_AFTER) holds the job in `processing`; once the window is over the sweep
    fails that revision with `review_closed`, the job is done again with its result, the source
    goes, and the revision's failed outcome is published once (nothing else would). One still
    within the abandonment time is left alone."""
    world, topic = review_topic_world
    job_id, data = _done_api_job(world)
    until = world.job(job_id)["review_until"]
    requested = until - dt.timedelta(minutes=1)
    pending = {
        "revision": 1,
        "key": "k",
        "op": "mosaic_faces",
        "boxes": [],
        "requested_at": requested,
    }
    world.store.update(job_id, {"status": jobs.PROCESSING, jobs.PENDING_REVISION: pending})
    assert _counts(sweep_review_sources(world.clients, now=until + SECOND)) == {"busy": 1}
    assert _source_there(world, data)

    later = requested + jobs.REVISION_ABANDONED_AFTER
    assert _counts(sweep_review_sources(world.clients, now=later)) == {"deleted": 1}
    job = world.job(job_id)
    assert not _source_there(world, data)
    assert job["status"] == jobs.DONE and jobs.PENDING_REVISION not in job
    assert job["revision_error"]["revision"] == 1
    assert job["revision_error"]["code"] == "review_closed"
    assert job["source"]["deleted"] is True and "review_until" not in job
    assert job["result"]["name"]
    generation = int(job["generation"])
    keys = [(m.body["key"], m.body["status"]) for m in topic.drain()]
    assert keys == [(f"{job_id}:{generation}:0", "done"), (f"{job_id}:{generation}:1", "failed")]
    assert _counts(sweep_review_sources(world.clients, now=later)) == {}
    assert topic.drain() == []


def test_a_sweep_that_dies_before_the_delete_is_finished_by_the_next(
    review_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = review_world
    job_id, data = _done_api_job(world)
    until = world.job(job_id)["review_until"]
    real_delete = jobs.delete_generation

    def outage(bucket: Any, name: str, generation: int) -> None:
        raise TransientError("storage unavailable (injected)")

    monkeypatch.setattr(jobs, "delete_generation", outage)
    assert _counts(sweep_review_sources(world.clients, now=until)) == {"retry": 1}
    # Marked first: no revision can start on it any more, and it stays in the sweep's query.
    marked = world.job(job_id)
    assert marked["source"]["deleted"] is True and marked["review_until"] == until
    assert _source_there(world, data)

    monkeypatch.setattr(jobs, "delete_generation", real_delete)
    assert _counts(sweep_review_sources(world.clients, now=until)) == {"deleted": 1}
    assert not _source_there(world, data)
    assert "review_until" not in world.job(job_id)


def test_a_marked_job_whose_object_is_gone_is_finished_too(review_world: World) -> None:
    """A sweep that died after the delete, before the record: the delete is repeated (a 404
    is nothing left to delete) and the job leaves the query."""
    world = review_world
    job_id, data = _done_api_job(world)
    until = world.job(job_id)["review_until"]
    end = world.store.close_review(
        job_id, until, bucket=world.config.uploads_bucket, delete_source=True
    )
    assert end.outcome is jobs.ReviewOutcome.DELETE and end.generation == int(data["generation"])
    world.clients.storage.bucket(data["bucket"]).blob(data["name"]).delete()
    assert _counts(sweep_review_sources(world.clients, now=until)) == {"deleted": 1}
    job = world.job(job_id)
    assert job["source"]["deleted"] is True and "review_until" not in job


def test_without_delete_originals_the_window_closes_and_the_source_stays(
    make_world: Callable[..., World], fresh_bucket: Callable[[], str]
) -> None:
    world = make_world(
        uploads_bucket=fresh_bucket(), delete_originals=False, review_window_seconds=WINDOW
    )
    job_id, data = _done_api_job(world)
    until = world.job(job_id)["review_until"]
    assert _counts(sweep_review_sources(world.clients, now=until)) == {"closed": 1}
    job = world.job(job_id)
    assert job["source"]["deleted"] is False and "review_until" not in job
    assert _source_there(world, data)  # the bucket's lifecycle rule removes it


def test_the_sweep_touches_only_its_own_bucket(
    review_world: World, fresh_bucket: Callable[[], str]
) -> None:
    world = review_world
    job_id, data = _done_api_job(world)
    until = world.job(job_id)["review_until"]
    other = world.with_config(uploads_bucket=fresh_bucket())
    summary = sweep_review_sources(other.clients, now=until)
    assert summary.deleted == 0 and summary.foreign >= 1
    assert _source_there(world, data) and world.job(job_id)["review_until"] == until


def test_delete_inside_the_window_erases_at_once(review_world: World) -> None:
    world = review_world
    job_id, data = _done_api_job(world)
    UploadService(world.clients).delete_job(job_id)
    assert not _source_there(world, data)
    assert world.job(job_id)["status"] == "deleted"
    assert "review_until" not in world.job(job_id)


def test_a_run_takes_pages_past_jobs_that_stay(review_world: World) -> None:
    """Pages follow review_until, each after the last one's latest time, so jobs that stay in
    the query (being rendered again; on the emulator, other tests' jobs) hold up no others."""
    world = review_world
    busy = [_done_api_job(world)[0] for _ in range(3)]
    for job_id in busy:
        world.store.update(job_id, {"status": jobs.PROCESSING})
    done = [_done_api_job(world)[0] for _ in range(3)]
    until = max(world.job(j)["review_until"] for j in done)
    one_page = sweep_review_sources(world.clients, now=until, limit=2, pages=1)
    assert one_page.deleted == 0 and one_page.found == 2
    summary = sweep_review_sources(world.clients, now=until, limit=2, pages=10_000)
    assert summary.deleted == 3 and summary.busy == 3
    assert all(world.job(j)["source"]["deleted"] is True for j in done)
    assert all(world.job(j)["source"]["deleted"] is False for j in busy)


def test_a_revision_may_start_only_while_the_window_is_open(review_world: World) -> None:
    """jobs.review_open, what the revisions route checks in its transaction: open while done
    and before review_until; closed once past, once the sweep marked the job, or while it is
    being rendered again."""
    world = review_world
    job_id, _ = _done_api_job(world)
    job = world.job(job_id)
    until = job["review_until"]
    assert jobs.review_open(job, until - SECOND)
    assert not jobs.review_open(job, until)
    assert not jobs.review_open({**job, "status": jobs.PROCESSING}, until - SECOND)
    world.store.close_review(job_id, until, bucket=world.config.uploads_bucket, delete_source=True)
    assert not jobs.review_open(world.job(job_id), until - SECOND)  # marked: closed at once
    sweep_review_sources(world.clients, now=until)
    assert not jobs.review_open(world.job(job_id), until - SECOND)
