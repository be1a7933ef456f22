"""The review window through a whole local stack: a done API job keeps its original until
`review_until`, then the stack's periodic sweep (devstack/sweeper.py, Cloud Scheduler's part)
deletes it and the job says `source.deleted`. A stack of its own, with a window far longer than
the test and a sweep every half second: the window is closed by moving the job's
`review_until` into the past, so no step depends on how fast the machine is.
tests/process/test_sweep.py has the sweep's cases (never before `review_until`, and so on)."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from google.cloud import firestore

from devstack.stack import Stack
from gazokako import jobs
from tests.support.api import create_upload, put_upload, wait_for_job
from tests.support.corpus import skimage_image

pytestmark = pytest.mark.stack

# Far longer than the test: the window never closes by itself while it runs.
WINDOW_SECONDS = 3600


@pytest.fixture(scope="module")
def review_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack(
        tmp_path_factory.mktemp("review-stack"),
        env={},
        process_env={"REVIEW_WINDOW_SECONDS": str(WINDOW_SECONDS), "DELETE_ORIGINALS": "true"},
        sweep_every=0.5,
    )
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


def _sources(stack: Stack, job_id: str) -> list[str]:
    resp = requests.get(
        f"{stack.url('storage')}/storage/v1/b/{stack.uploads_bucket}/o",
        params={"prefix": f"u/{job_id}/"},
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    return [item["name"] for item in resp.json().get("items", [])]


def _job_ref(stack: Stack, job_id: str) -> firestore.DocumentReference:
    mp = pytest.MonkeyPatch()
    mp.setenv("FIRESTORE_EMULATOR_HOST", stack.firestore_host)
    try:
        return firestore.Client(project=stack.project).collection(jobs.COLLECTION).document(job_id)
    finally:
        mp.undo()


def _job_document(stack: Stack, job_id: str) -> dict[str, Any]:
    return _job_ref(stack, job_id).get().to_dict() or {}


def _sweep_lines(stack: Stack) -> list[dict[str, Any]]:
    text = (Path(stack.urls["logs"]) / "sweep.log").read_text(errors="replace")
    lines = [json.loads(x) for x in text.splitlines() if x.startswith("{")]
    return [e for e in lines if e.get("event") == "sweep.done"]


def test_the_original_is_kept_for_the_window_then_swept(review_stack: Stack) -> None:
    stack = review_stack
    photo = skimage_image("coffee.png")
    created = create_upload(stack.urls["upload_api"], photo, "image/png", ops=["grayscale"])
    assert put_upload(created["upload"], photo).status_code == 200
    job = wait_for_job(created["status_url"])
    assert job["status"] == "done"
    until = dt.datetime.fromisoformat(job["review_until"].replace("Z", "+00:00"))
    assert until > dt.datetime.now(dt.UTC) + dt.timedelta(seconds=WINDOW_SECONDS / 2)
    # Kept after done, though DELETE_ORIGINALS is on, while sweeps come by: the window is open.
    sweeps = len(_sweep_lines(stack))
    while len(_sweep_lines(stack)) < sweeps + 2:
        assert stack.procs["sweep"].alive(), "the sweeper exited"
        time.sleep(0.2)
    assert _sources(stack, created["id"]) == [f"u/{created['id']}/source"]
    assert _job_document(stack, created["id"])["source"]["deleted"] is False

    # The window ends (its time moved into the past): the next sweep deletes the original.
    _job_ref(stack, created["id"]).update(
        {jobs.REVIEW_UNTIL: dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)}
    )
    while _sources(stack, created["id"]):
        assert stack.procs["sweep"].alive(), "the sweeper exited"
        time.sleep(0.2)

    doc = _job_document(stack, created["id"])
    assert doc["status"] == "done" and doc["source"]["deleted"] is True
    assert jobs.REVIEW_UNTIL not in doc
    after = requests.get(created["status_url"], timeout=30).json()
    assert after["status"] == "done" and "review_until" not in after
    assert any(line["deleted"] >= 1 for line in _sweep_lines(stack))
