"""Erasure and retention in the process service, on the emulators (issue 12, points 2-5).

An object under `u/` that no live job names is deleted (generation-pinned) and acknowledged; an
erased job (DELETE's tombstone) makes every later step of a processor remove what it wrote; a
size lie fails; a failed job keeps no source. The races are played here one step at a time, at
the exact points where a processor and DELETE interleave; tests/e2e/test_erasure.py races them
for real through the running stack.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

import pytest
from google.api_core import exceptions as gexc

from gazokako import jobs
from gazokako.errors import NotFound, TransientError
from gazokako.ids import new_job_id, result_object_name, source_object_name, uploads_prefix
from gazokako.processing import ProcessService
from gazokako.uploads import UploadService
from tests.process.conftest import World
from tests.support.corpus import skimage_image

# What a tombstone may hold: no filename, no faces, no object names.
TOMBSTONE_FIELDS = {"status", "deleted_at", "updated_at", "expires_at"}


def _png(name: str = "coffee.png") -> bytes:
    return skimage_image(name)


def _source(world: World, name: str) -> Any:
    return world.clients.storage.bucket(world.config.uploads_bucket).get_blob(name)


def _delete(world: World, job_id: str) -> None:
    """DELETE /jobs/{id}, as the upload function runs it, on the same emulators."""
    UploadService(world.clients).delete_job(job_id)


def _assert_erased(world: World, job_id: str) -> None:
    """Nothing of the job is left but its tombstone."""
    blobs = world.clients.storage.list_blobs(
        world.config.uploads_bucket, prefix=uploads_prefix(job_id)
    )
    assert [b.name for b in blobs] == []
    assert world.results(job_id) == []
    job = world.store.get(job_id)
    assert job is None or (job["status"] == "deleted" and set(job) <= TOMBSTONE_FIELDS), job


class RecordingStorage:
    """The real storage client; every blob.delete() is also recorded with its pinning.

    The storage emulator ignores both `generation` and `ifGenerationMatch` on DELETE (it
    removes the live object whatever they say), so the pinning is checked on the call.
    """

    def __init__(self, real: Any) -> None:
        self._real = real
        self.deletes: list[tuple[str, int | None, int | None]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def bucket(self, name: str) -> Any:
        return _RecordingBucket(self, self._real.bucket(name))


class _RecordingBucket:
    def __init__(self, owner: RecordingStorage, real: Any) -> None:
        self._owner, self._real = owner, real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def blob(self, *args: Any, **kwargs: Any) -> Any:
        return _RecordingBlob(self._owner, self._real.blob(*args, **kwargs))


class _RecordingBlob:
    def __init__(self, owner: RecordingStorage, real: Any) -> None:
        self._owner, self._real = owner, real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        pinned = kwargs.get("if_generation_match")
        self._owner.deletes.append((self._real.name, self._real.generation, pinned))
        return self._real.delete(*args, **kwargs)


def _recording(world: World) -> RecordingStorage:
    recorder = RecordingStorage(world.clients.storage)
    world.clients.__dict__["storage"] = recorder  # the cached client, swapped for the wrapper
    return recorder


# -- point 2: nothing without a live job stays ---------------------------------------------------
def test_put_after_delete_is_deleted_generation_pinned_and_acked(world: World) -> None:
    job_id = world.new_api_job(["grayscale"])
    _delete(world, job_id)
    # The signed URL is still valid; the emulator (unlike production) accepts the PUT.
    data = world.put(source_object_name(job_id), _png(), declare=False)
    recorder = _recording(world)
    world.deliver(data)  # returns: acknowledged
    gen = int(data["generation"])
    assert (source_object_name(job_id), gen, gen) in recorder.deletes
    _assert_erased(world, job_id)


def test_source_of_a_job_that_never_existed_is_deleted(world: World) -> None:
    job_id = new_job_id()
    data = world.put(source_object_name(job_id), _png())
    recorder = _recording(world)
    world.deliver(data)
    gen = int(data["generation"])
    assert (source_object_name(job_id), gen, gen) in recorder.deletes
    assert world.store.get(job_id) is None
    assert _source(world, source_object_name(job_id)) is None
    assert world.results(job_id) == []


def test_object_written_after_the_job_expired_is_deleted(world: World) -> None:
    job_id = world.new_api_job(["grayscale"])
    world.store.update(job_id, {"expires_at": jobs.utcnow() - dt.timedelta(seconds=1)})
    world.deliver(world.put(source_object_name(job_id), _png()))
    assert _source(world, source_object_name(job_id)) is None
    assert world.results(job_id) == []
    assert world.job(job_id)["status"] == "awaiting_upload"  # its TTL removes it


@pytest.mark.parametrize("rest", ["extra", "source/again"])
def test_other_objects_in_the_api_folder_are_deleted_not_dropped(world: World, rest: str) -> None:
    job_id = world.new_api_job(["grayscale"])
    name = f"u/{job_id}/{rest}"
    world.deliver(world.put(name, _png()))
    assert _source(world, name) is None
    assert world.drop_jobs(name) == []
    assert world.job(job_id)["status"] == "awaiting_upload"


# -- point 3: DELETE cannot be outrun ------------------------------------------------------------
def test_delete_leaves_a_tombstone_without_names_and_get_is_404(world: World) -> None:
    job_id = world.new_api_job(["grayscale"])
    world.deliver(world.put(source_object_name(job_id), _png()))
    assert world.job(job_id)["status"] == "done"
    _delete(world, job_id)
    tomb = world.job(job_id)
    assert set(tomb) == TOMBSTONE_FIELDS and tomb["status"] == "deleted"
    # Expires by the TTL field, long enough to outlive every redelivery.
    assert tomb["expires_at"] >= jobs.utcnow() + jobs.TOMBSTONE_TTL - dt.timedelta(minutes=5)
    _assert_erased(world, job_id)
    with pytest.raises(NotFound):
        UploadService(world.clients).describe_job(job_id)


def test_delete_between_result_write_and_finish_publishes_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DELETE lands after the processor wrote its result and before it finishes the record."""
    job_id = world.new_api_job(["grayscale"])
    data = world.put(source_object_name(job_id), _png())
    real_upload = ProcessService._upload

    def upload_then_delete(self: ProcessService, name: str, *rest: Any) -> None:
        real_upload(self, name, *rest)
        _delete(world, job_id)

    monkeypatch.setattr(ProcessService, "_upload", upload_then_delete)
    world.deliver(data)
    _assert_erased(world, job_id)


def test_result_written_after_the_delete_sweep_is_removed(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DELETE (record and sweep) completes while the processor runs; its late result goes."""
    job_id = world.new_api_job(["grayscale"])
    data = world.put(source_object_name(job_id), _png())
    real_download = ProcessService._download

    def download_then_delete(self: ProcessService, bucket: str, name: str, gen: int) -> bytes:
        payload = real_download(self, bucket, name, gen)
        _delete(world, job_id)
        return payload

    monkeypatch.setattr(ProcessService, "_download", download_then_delete)
    world.deliver(data)
    _assert_erased(world, job_id)


def test_processor_finishing_during_the_delete_sweep_publishes_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The processor read the source before DELETE began, and writes its result and finishes
    after DELETE listed the (still empty) results folder: that result must not outlive it."""
    job_id = world.new_api_job(["grayscale"])
    data = world.put(source_object_name(job_id), _png())
    downloaded, listed = threading.Event(), threading.Event()
    real_upload = ProcessService._upload

    def upload_after_listing(self: ProcessService, name: str, *rest: Any) -> None:
        downloaded.set()
        assert listed.wait(60)
        real_upload(self, name, *rest)

    monkeypatch.setattr(ProcessService, "_upload", upload_after_listing)
    processor = threading.Thread(target=world.deliver, args=(data,))
    real = world.clients.storage
    deleter = threading.current_thread()

    class FinishAfterListing:
        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def list_blobs(self, bucket: str, **kwargs: Any) -> list[Any]:
            found = list(real.list_blobs(bucket, **kwargs))
            if bucket == world.config.results_bucket and threading.current_thread() is deleter:
                listed.set()
                processor.join(60)  # the processor writes and finishes now
            return found

    world.clients.__dict__["storage"] = FinishAfterListing()
    processor.start()
    assert downloaded.wait(60)
    _delete(world, job_id)
    assert not processor.is_alive()
    _assert_erased(world, job_id)


def test_redelivery_after_a_crash_and_delete_removes_the_crashed_write(world: World) -> None:
    """A processor wrote its result after DELETE's sweep and died; the redelivery cleans up."""
    job_id = world.new_api_job(["grayscale"])
    data = world.put(source_object_name(job_id), _png())
    gen = int(data["generation"])
    assert world.store.claim(job_id, gen, lease_seconds=300).outcome is jobs.ClaimOutcome.CLAIMED
    _delete(world, job_id)
    late = result_object_name(job_id, gen, "jpeg")
    results = world.clients.storage.bucket(world.config.results_bucket)
    results.blob(late).upload_from_string(b"written by the dead holder", content_type="image/jpeg")
    world.deliver(data)  # the redelivery: acknowledged
    _assert_erased(world, job_id)


def test_claim_and_finish_after_delete_are_refused(world: World) -> None:
    job_id = world.new_api_job(["grayscale"])
    data = world.put(source_object_name(job_id), _png())
    gen = int(data["generation"])
    claim = world.store.claim(job_id, gen, lease_seconds=300)
    _delete(world, job_id)
    assert not world.store.finish(job_id, gen, {"status": "done"}, token=claim.token)
    again = world.store.claim(job_id, gen, lease_seconds=300)
    assert again.outcome is jobs.ClaimOutcome.DELETED
    assert world.job(job_id)["status"] == "deleted"


def test_delete_of_a_drop_removes_its_generation_and_mapping(world: World) -> None:
    name = f"inbox/{new_job_id()}.png"
    data = world.put(name, _png(), metadata={"ops": "grayscale"})
    world.deliver(data)
    (job,) = world.drop_jobs(name)
    gen = int(data["generation"])
    mapping_ref = world.clients.firestore.collection(jobs.DROPS).document(
        jobs.drop_key(world.config.uploads_bucket, name, gen)
    )
    assert (mapping_ref.get().to_dict() or {})["job_id"] == job["id"]

    recorder = _recording(world)
    _delete(world, job["id"])
    # Only the processed generation, pinned: a newer object of the name is another drop's.
    assert (name, gen, gen) in recorder.deletes
    assert _source(world, name) is None
    _assert_erased(world, job["id"])
    # The mapping names neither the job nor the object any more.
    mapping = mapping_ref.get().to_dict() or {}
    assert mapping["status"] == "deleted" and set(mapping) == {"status", "deleted_at", "expires_at"}
    # A redelivered drop event makes no new job.
    world.deliver(data)
    assert world.drop_jobs(name) == []


def test_delete_of_a_drop_interrupted_by_a_storage_error_is_finished_by_a_retry(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"inbox/{new_job_id()}.png"
    world.deliver(world.put(name, _png(), metadata={"ops": "grayscale"}))
    (job,) = world.drop_jobs(name)
    failing = [True]
    real_delete_generation = jobs.delete_generation

    def flaky(bucket: Any, object_name: str, generation: int) -> None:
        if failing:
            failing.clear()
            raise TransientError(str(gexc.ServiceUnavailable("injected 503")))
        real_delete_generation(bucket, object_name, generation)

    monkeypatch.setattr(jobs, "delete_generation", flaky)
    with pytest.raises(TransientError):
        _delete(world, job["id"])  # the client sees 503
    # Recorded already; only the drop's source name is kept, until it is deleted.
    tomb = world.job(job["id"])
    assert tomb["status"] == "deleted" and tomb[jobs.PENDING_ERASURE]["name"] == name
    assert _source(world, name) is not None
    _delete(world, job["id"])  # the client repeats the DELETE
    assert _source(world, name) is None
    _assert_erased(world, job["id"])


# -- point 4: a size lie fails -------------------------------------------------------------------
def test_declared_size_lie_fails_with_size_mismatch(world: World) -> None:
    photo = _png()
    job_id = world.new_api_job(["grayscale"])
    world.store.update(job_id, {"source.declared_bytes": len(photo) // 2})
    data = world.put(source_object_name(job_id), photo, declare=False)
    world.deliver(data)
    job = world.job(job_id)
    assert job["status"] == "failed" and job["error"]["code"] == "size_mismatch"
    assert "result" not in job and world.results(job_id) == []
    assert _source(world, source_object_name(job_id)) is None and job["source"]["deleted"] is True


def test_size_lie_is_caught_on_the_bytes_too(world: World) -> None:
    """An event that reports the declared size while more bytes are there still fails."""
    photo = _png()
    job_id = world.new_api_job(["grayscale"])
    world.store.update(job_id, {"source.declared_bytes": len(photo) - 1})
    data = world.put(source_object_name(job_id), photo, declare=False)
    world.deliver({**data, "size": str(len(photo) - 1)})
    job = world.job(job_id)
    assert job["status"] == "failed" and job["error"]["code"] == "size_mismatch"
    assert job["source"]["bytes"] == len(photo) and world.results(job_id) == []


# -- point 5: a failed job keeps no source -------------------------------------------------------
def test_failed_job_source_is_deleted_with_the_failure_record(world: World) -> None:
    job_id = world.new_api_job(["grayscale"])
    data = world.put(source_object_name(job_id), b"this is not an image at all", "image/jpeg")
    recorder = _recording(world)
    world.deliver(data)
    job = world.job(job_id)
    assert job["status"] == "failed" and job["source"]["deleted"] is True
    gen = int(data["generation"])
    assert (source_object_name(job_id), gen, gen) in recorder.deletes
    assert _source(world, source_object_name(job_id)) is None


def test_job_failed_for_too_many_attempts_keeps_no_source(
    make_world: Callable[..., World],
) -> None:
    world = make_world(max_attempts=1)
    job_id = world.new_api_job(["grayscale"])
    data = world.put(source_object_name(job_id), _png())
    gen = int(data["generation"])
    world.store.claim(job_id, gen, lease_seconds=300)
    world.store.update(job_id, {"lease_until": jobs.utcnow() - dt.timedelta(seconds=1)})
    world.deliver(data)
    job = world.job(job_id)
    assert job["error"]["code"] == "too_many_attempts" and job["source"]["deleted"] is True
    assert _source(world, source_object_name(job_id)) is None


def test_claim_keeps_a_job_alive_while_it_is_processed(world: World) -> None:
    job_id = world.new_api_job(["grayscale"])
    soon = jobs.utcnow() + dt.timedelta(minutes=1)
    world.store.update(job_id, {"expires_at": soon})
    world.deliver(world.put(source_object_name(job_id), _png()))
    job = world.job(job_id)
    assert job["status"] == "done"
    assert job["expires_at"] > jobs.utcnow() + dt.timedelta(days=world.config.job_ttl_days - 1)
