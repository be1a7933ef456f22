"""Backfill through a real stack: an archive written before any trigger, processed once.

The stack here starts no bridge (`Stack(deliver=False)`): objects land in the uploads bucket
and no event reaches the process function, as for an archive that predates the Eventarc
trigger. `python -m gazokako.backfill` then runs as a user runs it, twice.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import firestore, storage  # type: ignore[attr-defined]
from PIL import Image

from devstack.stack import ROOT, Stack, client_env
from gazokako import jobs

pytestmark = pytest.mark.stack

ARCHIVE = ("archive/2019/a.jpg", "archive/2019/b.png", "archive/c.jpg")
# Never backfilled: the upload API's folder and a folder placeholder.
LEFT_ALONE = ("u/not-an-api-job/source", "archive/2020/")


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    handle = Stack(tmp_path_factory.mktemp("archive"), env={}, deliver=False)
    handle.start()
    try:
        yield handle
    finally:
        handle.stop()


def _image(fmt: str, shade: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (shade, 90, 200)).save(out, format=fmt)
    return out.getvalue()


def _clients(handle: Stack) -> tuple[storage.Client, firestore.Client]:
    mp = pytest.MonkeyPatch()
    mp.setenv("FIRESTORE_EMULATOR_HOST", handle.firestore_host)
    mp.setenv("STORAGE_EMULATOR_HOST", handle.url("storage"))
    try:
        anonymous = AnonymousCredentials()  # type: ignore[no-untyped-call]
        return (
            storage.Client(project=handle.project, credentials=anonymous),
            firestore.Client(project=handle.project),
        )
    finally:
        mp.undo()


def _backfill(handle: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.endswith("_EMULATOR_HOST")},
        **client_env(handle.urls),
    }
    return subprocess.run(
        [sys.executable, "-m", "gazokako.backfill", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def _drop_jobs(db: firestore.Client, bucket: str) -> dict[str, list[dict[str, Any]]]:
    """Every drop mapping of the bucket by object name, with its job."""
    found: dict[str, list[dict[str, Any]]] = {}
    for snap in db.collection(jobs.DROPS).stream():
        mapping = snap.to_dict() or {}
        if mapping.get("bucket") != bucket:
            continue
        job = db.collection(jobs.COLLECTION).document(mapping["job_id"]).get().to_dict() or {}
        found.setdefault(mapping["name"], []).append(job)
    return found


def test_backfill_twice_processes_each_archived_object_once(archive: Stack, tmp_path: Path) -> None:
    gcs, db = _clients(archive)
    uploads = gcs.bucket(archive.uploads_bucket)
    for i, name in enumerate(ARCHIVE):
        blob = uploads.blob(name)
        blob.metadata = {"ops": "grayscale"}
        fmt = "PNG" if name.endswith(".png") else "JPEG"
        blob.upload_from_string(_image(fmt, 40 * i), content_type=f"image/{fmt.lower()}")
    uploads.blob(LEFT_ALONE[0]).upload_from_string(_image("JPEG", 7), content_type="image/jpeg")
    uploads.blob(LEFT_ALONE[1]).upload_from_string(b"", content_type="application/x-directory")
    generations = {name: uploads.get_blob(name).generation for name in ARCHIVE}
    # No bridge: nothing was delivered, so nothing is processed yet.
    assert _drop_jobs(db, archive.uploads_bucket) == {}

    first = _backfill(
        archive, "--bucket", archive.uploads_bucket, "--target", archive.url("process")
    )
    assert first.returncode == 0, first.stderr
    assert first.stdout == "backfill: 3 processed, 0 skipped (processed or in progress), 0 failed\n"
    assert "3/3" in first.stderr  # the progress bar
    for name in (*ARCHIVE, *LEFT_ALONE):
        assert name not in first.stdout + first.stderr  # no object name printed

    done = _drop_jobs(db, archive.uploads_bucket)
    assert sorted(done) == sorted(ARCHIVE)  # u/ and the folder placeholder were left alone
    for name, found in done.items():
        assert len(found) == 1, name  # one job per object
        job = found[0]
        assert job["status"] == jobs.DONE, job.get("error")
        assert job["origin"] == "drop" and job["ops"] == ["grayscale"]
        assert job["source"]["generation"] == generations[name]
        result = job["result"]
        assert gcs.bucket(result["bucket"]).get_blob(result["name"]) is not None
    assert uploads.get_blob(LEFT_ALONE[0]) is not None  # not the backfill's to judge

    second = _backfill(
        archive,
        "--bucket",
        archive.uploads_bucket,
        "--target",
        archive.url("process"),
        "--no-progress",
    )
    assert second.returncode == 0, second.stderr
    assert (
        second.stdout == "backfill: 0 processed, 3 skipped (processed or in progress), 0 failed\n"
    )
    assert second.stderr == ""
    again = _drop_jobs(db, archive.uploads_bucket)
    assert {n: [j["id"] for j in js] for n, js in again.items()} == {
        n: [j["id"] for j in js] for n, js in done.items()
    }

    # A prefix narrows the listing; a newer generation of one object is a new drop to process.
    uploads.blob(ARCHIVE[2]).upload_from_string(_image("JPEG", 250), content_type="image/jpeg")
    third = _backfill(
        archive,
        "--bucket",
        archive.uploads_bucket,
        "--prefix",
        "archive/c",
        "--target",
        archive.url("process"),
        "--no-progress",
    )
    assert third.stdout == "backfill: 1 processed, 0 skipped (processed or in progress), 0 failed\n"
    latest = _drop_jobs(db, archive.uploads_bucket)[ARCHIVE[2]]
    assert len(latest) == 2 and {j["status"] for j in latest} == {jobs.DONE}


def test_a_bucket_the_function_does_not_watch_is_reported_not_counted_processed(
    archive: Stack,
) -> None:
    gcs, _ = _clients(archive)
    other = "archive-not-the-uploads-bucket"
    archive.create_bucket(other)
    gcs.bucket(other).blob("old/a.jpg").upload_from_string(
        _image("JPEG", 1), content_type="image/jpeg"
    )
    ran = _backfill(archive, "--bucket", other, "--target", archive.url("process"), "--no-progress")
    assert ran.returncode == 1
    assert ran.stdout == "backfill: 0 processed, 0 skipped (processed or in progress), 1 failed\n"
    assert "made no job: is --bucket the bucket its trigger watches" in ran.stderr
