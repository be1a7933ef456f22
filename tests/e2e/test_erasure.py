"""Erasure, retention and logs through the whole running stack (issue 12, points 2-6).

Real HTTP to the upload function, real signed PUTs to the storage emulator, the bridge's
CloudEvents to the process function. "Settled" means the bridge acknowledged the object's event:
whatever the processor was going to do about it, it has done.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from google.cloud import firestore

from devstack.stack import Stack
from gazokako import jobs
from gazokako.ids import log_ref
from tests.support.api import create_upload, put_upload, wait_for_job
from tests.support.corpus import skimage_image

TOMBSTONE_FIELDS = {"status", "deleted_at", "updated_at", "expires_at"}
RACE_ROUNDS = 24
# DELETE is sent 0, 1, ..., 7 steps after the PUT returned.
RACE_STEP_S = 0.1


@pytest.fixture(scope="module")
def db(stack_handle: Stack) -> Iterator[firestore.Client]:
    mp = pytest.MonkeyPatch()
    mp.setenv("FIRESTORE_EMULATOR_HOST", stack_handle.firestore_host)
    try:
        yield firestore.Client(project=stack_handle.project)
    finally:
        mp.undo()


def _objects(stack: dict[str, Any], bucket: str, prefix: str) -> list[str]:
    resp = requests.get(
        f"{stack['storage']}/storage/v1/b/{bucket}/o", params={"prefix": prefix}, timeout=10
    )
    assert resp.status_code == 200, resp.text
    return [item["name"] for item in resp.json().get("items", [])]


def _leftovers(stack: dict[str, Any], db: firestore.Client, job_id: str) -> list[str]:
    """Everything of the job still stored, besides a tombstone."""
    left = _objects(stack, stack["uploads_bucket"], f"u/{job_id}/")
    left += _objects(stack, stack["results_bucket"], f"r/{job_id}/")
    doc = db.collection(jobs.COLLECTION).document(job_id).get()
    if doc.exists:
        data = doc.to_dict() or {}
        if data.get("status") != "deleted" or not set(data) <= TOMBSTONE_FIELDS:
            left.append(f"job document {sorted(data)}")
    return left


def _log_lines(stack: dict[str, Any], part: str) -> list[dict[str, Any]]:
    path = Path(stack["logs"]) / f"{part}.log"
    found = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                found.append(json.loads(line))
            except ValueError:
                continue
    return found


def _wait_settled(stack: dict[str, Any], job_id: str, puts: int = 1) -> list[dict[str, Any]]:
    """Wait until the bridge acknowledged `puts` events of the job's source; returns the
    process function's lines about the job. The bound only stops a broken run from hanging."""
    ref = log_ref(job_id)
    give_up = time.monotonic() + 180
    while True:
        acks = [
            e
            for e in _log_lines(stack, "bridge")
            if e.get("event") == "bridge.delivery" and e.get("job") == ref
        ]
        if sum(e["outcome"] == "ack" for e in acks) >= puts or time.monotonic() > give_up:
            break
        time.sleep(0.1)
    assert sum(e["outcome"] == "ack" for e in acks) >= puts, acks
    return [e for e in _log_lines(stack, "process") if e.get("job") == ref]


# -- point 2 ---------------------------------------------------------------------------------------
def test_put_after_delete_leaves_nothing(stack: dict[str, Any], db: firestore.Client) -> None:
    photo = skimage_image("coffee.png")
    created = create_upload(stack["upload_api"], photo, "image/png", ops=["grayscale"])
    assert created["upload"]["headers"]["x-goog-if-generation-match"] == "0"
    assert requests.delete(created["status_url"], timeout=30).status_code == 204
    # DELETE left no object, so the single-use header lets this PUT through in production too:
    # it is the processor's to remove.
    assert put_upload(created["upload"], photo).status_code == 200
    lines = _wait_settled(stack, created["id"])
    assert "process.deleted" in {e["event"] for e in lines}
    assert _leftovers(stack, db, created["id"]) == []
    assert requests.get(created["status_url"], timeout=30).status_code == 404


def test_storage_cors_lets_a_browser_send_the_single_use_header(
    stack: dict[str, Any],
) -> None:
    """The page's browser may send the single-use header: the emulator's CORS allows it."""
    created = create_upload(stack["upload_api"], b"x" * 10, "image/png")
    preflight = requests.options(
        created["upload"]["url"],
        headers={
            "Origin": stack["web"].rstrip("/"),
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": ",".join(created["upload"]["headers"]).lower(),
        },
        timeout=10,
    )
    allowed = preflight.headers.get("Access-Control-Allow-Headers", "").lower()
    assert "x-goog-if-generation-match" in allowed, preflight.headers
    requests.delete(created["status_url"], timeout=30)


# -- point 4 ---------------------------------------------------------------------------------------
def test_size_lie_fails_through_the_stack(stack: dict[str, Any], db: firestore.Client) -> None:
    photo = skimage_image("coffee.png")
    created = create_upload(
        stack["upload_api"], photo[:1000], "image/png", ops=["grayscale"]
    )  # declares 1000 bytes
    # The emulator does not enforce x-goog-content-length-range; Cloud Storage would.
    assert put_upload(created["upload"], photo).status_code == 200
    job = wait_for_job(created["status_url"])
    assert job["status"] == "failed" and job["error"]["code"] == "size_mismatch", job
    assert "result" not in job
    _wait_settled(stack, created["id"])
    assert _objects(stack, stack["uploads_bucket"], f"u/{created['id']}/") == []
    assert _objects(stack, stack["results_bucket"], f"r/{created['id']}/") == []


# -- point 5 ---------------------------------------------------------------------------------------
def test_awaiting_upload_expires_soon_after_its_url(
    stack: dict[str, Any], db: firestore.Client
) -> None:
    created = create_upload(stack["upload_api"], b"x" * 10, "image/png")
    url_expires = dt.datetime.fromisoformat(created["expires_at"].replace("Z", "+00:00"))
    doc = db.collection(jobs.COLLECTION).document(created["id"]).get().to_dict() or {}
    assert doc["status"] == "awaiting_upload"
    assert doc["expires_at"] == url_expires + jobs.AWAITING_UPLOAD_GRACE
    assert dt.timedelta(minutes=10) >= jobs.AWAITING_UPLOAD_GRACE
    requests.delete(created["status_url"], timeout=30)


def test_failed_job_keeps_no_source(stack: dict[str, Any]) -> None:
    junk = b"this is not an image at all" * 10
    created = create_upload(stack["upload_api"], junk, "image/png", ops=["grayscale"])
    assert put_upload(created["upload"], junk).status_code == 200
    job = wait_for_job(created["status_url"])
    assert job["status"] == "failed" and job["error"]["code"] == "unsupported_format"
    _wait_settled(stack, created["id"])
    assert _objects(stack, stack["uploads_bucket"], f"u/{created['id']}/") == []


# -- point 3 ---------------------------------------------------------------------------------------
def test_delete_racing_a_running_job_leaves_nothing(
    stack: dict[str, Any], db: firestore.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    """DELETE at spread-out moments after the PUT: before the event, during the claim, while
    the image is processed, after the result is written, after done. Every round must end with
    no object and no job data (a tombstone only)."""
    photo = skimage_image("astronaut.png")
    seen: Counter[str] = Counter()
    dirty: dict[int, list[str]] = {}
    for round_no in range(RACE_ROUNDS):
        # Face detection makes processing long enough for DELETE to land inside it.
        created = create_upload(stack["upload_api"], photo, "image/png", ops=["mosaic_faces"])
        assert put_upload(created["upload"], photo).status_code == 200
        time.sleep((round_no % 8) * RACE_STEP_S)
        assert requests.delete(created["status_url"], timeout=30).status_code == 204
        lines = _wait_settled(stack, created["id"])
        events = {e["event"] for e in lines}
        if "process.deleted" in events:
            seen["deleted before the claim"] += 1
        elif "job.done" in events:
            seen["deleted after done"] += 1
        else:
            seen["deleted while processing"] += 1
        left = _leftovers(stack, db, created["id"])
        if left:
            dirty[round_no] = left
    with capsys.disabled():
        print(f"\nDELETE race: {RACE_ROUNDS} rounds, processor saw {dict(seen)}")
    assert dirty == {}
    # Rounds landed before and after the processor's claim, so the race was really run.
    assert seen["deleted before the claim"] > 0, seen
    assert seen["deleted while processing"] + seen["deleted after done"] > 0, seen


# -- point 6 ---------------------------------------------------------------------------------------
def test_no_job_id_in_any_log_of_the_stack(
    stack_handle: Stack, stack: dict[str, Any], capfd: pytest.CaptureFixture[str]
) -> None:
    """Jobs of every kind through the stack, then every file the stack wrote is searched."""
    api = stack["upload_api"]
    photo = skimage_image("chelsea.png")
    ids: list[str] = []
    puts: dict[str, int] = {}

    done = create_upload(api, photo, "image/png", ops=["grayscale"])
    ids.append(done["id"])
    put_upload(done["upload"], photo)
    puts[done["id"]] = 1
    assert wait_for_job(done["status_url"])["status"] == "done"
    for _ in range(3):
        requests.get(done["status_url"], timeout=30)
    # A review revision (its id travels through Pub/Sub, the bridge and the review function),
    # and a refused one.
    revisions = f"{api}/jobs/{done['id']}/revisions"
    box = {"x": 10, "y": 10, "w": 40, "h": 40}
    body = {"boxes": [box], "op": "mosaic_faces"}
    assert requests.post(revisions, json=body, timeout=30).status_code == 202
    assert requests.post(revisions, json={"boxes": [box], "nope": 1}, timeout=30).status_code == 400
    assert wait_for_job(done["status_url"])["revision"] == 1

    erased = create_upload(api, photo, "image/png", ops=["grayscale"])
    ids.append(erased["id"])
    put_upload(erased["upload"], photo)
    puts[erased["id"]] = 1
    wait_for_job(erased["status_url"])
    requests.delete(erased["status_url"], timeout=30)
    requests.delete(erased["status_url"], timeout=30)
    requests.get(erased["status_url"], timeout=30)  # 404
    put_upload(erased["upload"], photo)  # after DELETE
    puts[erased["id"]] = 2

    junk = b"not an image" * 50
    failed = create_upload(api, junk, "image/png", ops=["grayscale"])
    ids.append(failed["id"])
    put_upload(failed["upload"], junk)
    puts[failed["id"]] = 1
    assert wait_for_job(failed["status_url"])["status"] == "failed"

    lie = create_upload(api, photo[:500], "image/png", ops=["grayscale"])
    ids.append(lie["id"])
    put_upload(lie["upload"], photo)
    puts[lie["id"]] = 1
    assert wait_for_job(lie["status_url"])["status"] == "failed"

    never = create_upload(api, photo, "image/png")
    ids.append(never["id"])
    requests.get(never["status_url"], timeout=30)
    requests.post(f"{api}/jobs/{never['id']}", timeout=30)  # 405
    requests.delete(never["status_url"], timeout=30)

    for job_id, n in puts.items():
        _wait_settled(stack, job_id, n)

    files = [p for p in stack_handle.state_dir.rglob("*") if p.is_file()]
    logs = [p for p in files if p.suffix == ".log"]
    assert {"upload.log", "process.log", "bridge.log", "storage.log"} <= {p.name for p in logs}
    assert {"review.log", "review_bridge.log"} <= {p.name for p in logs}
    assert any(log_ref(done["id"]) in p.read_text(errors="replace") for p in logs)
    hits = {
        (str(p.relative_to(stack_handle.state_dir)), job_id)
        for p in files
        for job_id in ids
        if job_id in p.read_text(errors="replace")
    }
    assert hits == set()
    captured = capfd.readouterr()
    assert not [i for i in ids if i in captured.out or i in captured.err]
    # Encoded forms too: an object name in a URL.
    encoded = [urllib.parse.quote(f"u/{i}/source", safe="") for i in ids]
    assert not [(p.name, e) for p in logs for e in encoded if e in p.read_text(errors="replace")]
