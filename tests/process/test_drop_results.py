"""Drop results named after the drop (docs/JOBS.md, "Direct bucket drops"): `{name}.{ext}` in
the results bucket with back-link metadata; the newest generation holds the name and an older
one never overwrites it; erasure removes only a job's own result. Fake and emulator."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from devstack.keys import ensure_signing_key
from gazokako import ids, jobs
from gazokako.ids import new_job_id
from gazokako.processing import ProcessService
from gazokako.uploads import UploadService
from tests.process.conftest import World
from tests.support.corpus import skimage_image

GRAYSCALE = {"ops": "grayscale"}


def _png(name: str = "coffee.png") -> bytes:
    return skimage_image(name)


def _jpeg(name: str = "coffee.png") -> bytes:
    img = cv2.imdecode(np.frombuffer(_png(name), np.uint8), cv2.IMREAD_COLOR)
    ok, out = cv2.imencode(".jpg", img)
    assert ok
    return out.tobytes()


def _job_of(world: World, name: str, data: dict[str, Any]) -> dict[str, Any]:
    gen = int(data["generation"])
    (job,) = [j for j in world.drop_jobs(name) if j["source"]["generation"] == gen]
    return job


def _metadata(job: dict[str, Any]) -> dict[str, str]:
    return {
        "gazokako-job": job["id"],
        "gazokako-source-generation": str(job["generation"]),
        "gazokako-faces": str(job["faces"]["count"]),
    }


def test_drop_result_is_named_after_the_drop_with_back_link_metadata(world: World) -> None:
    name = f"inbox/{new_job_id()}/photo.jpg"
    data = world.put(name, _jpeg(), "image/jpeg", metadata=GRAYSCALE)
    world.deliver(data)
    job = _job_of(world, name, data)
    assert job["status"] == "done"
    assert job["result"]["name"] == f"{name}.jpg"
    assert job["result"]["bucket"] == world.config.results_bucket
    result = world.result_object(f"{name}.jpg")
    assert result is not None and result.content_type == "image/jpeg"
    assert result.metadata == _metadata(job)
    assert result.download_as_bytes()[:3] == b"\xff\xd8\xff"
    # Listing the drop's folder in the results bucket finds it; no API-style r/{id}/ object.
    folder = name.rsplit("/", 1)[0] + "/"
    listed = world.clients.storage.list_blobs(world.config.results_bucket, prefix=folder)
    assert [b.name for b in listed] == [f"{name}.jpg"]
    assert world.results(job["id"]) == []


def test_face_count_is_in_the_metadata(world: World) -> None:
    name = f"inbox/{new_job_id()}.png"
    data = world.put(name, _png("astronaut.png"), metadata={"ops": "mosaic_faces"})
    world.deliver(data)
    job = _job_of(world, name, data)
    assert job["faces"]["count"] >= 1
    result = world.result_object(f"{name}.jpg")
    assert result is not None and result.metadata == _metadata(job)


def test_names_differing_only_by_extension_keep_apart(world: World) -> None:
    stem = f"inbox/{new_job_id()}/photo"
    jpg = world.put(f"{stem}.jpg", _jpeg("coffee.png"), "image/jpeg", metadata=GRAYSCALE)
    png = world.put(f"{stem}.png", _png("chelsea.png"), metadata=GRAYSCALE)
    for data in (jpg, png):
        world.deliver(data)
    for name, data in ((f"{stem}.jpg", jpg), (f"{stem}.png", png)):
        job = _job_of(world, name, data)
        result = world.result_object(f"{name}.jpg")
        assert result is not None and result.metadata["gazokako-job"] == job["id"]
    listed = world.clients.storage.list_blobs(world.config.results_bucket, prefix=stem)
    assert sorted(b.name for b in listed) == [f"{stem}.jpg.jpg", f"{stem}.png.jpg"]


def test_a_newer_generation_replaces_the_result(world: World) -> None:
    name = f"inbox/{new_job_id()}.png"
    first = world.put(name, _png("coffee.png"), metadata=GRAYSCALE)
    world.deliver(first)
    second = world.put(name, _png("chelsea.png"), metadata=GRAYSCALE)
    world.deliver(second)
    new = _job_of(world, name, second)
    result = world.result_object(f"{name}.jpg")
    assert result is not None and result.metadata == _metadata(new)
    assert new["result"]["width"] == 451  # chelsea.png, not coffee.png (600)
    # A late redelivery of the first generation's event changes nothing.
    world.deliver(first)
    again = world.result_object(f"{name}.jpg")
    assert again is not None and int(again.generation) == int(result.generation)


def test_a_slow_older_generation_never_overwrites_a_newer_result(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first generation's run has read its source when the second generation is written and
    processed to the end; the first run then finds the newer result and writes nothing."""
    name = f"inbox/{new_job_id()}.png"
    first = world.put(name, _png("coffee.png"), metadata=GRAYSCALE)
    real_download = ProcessService._download
    later: list[dict[str, Any]] = []

    def download_then_overtake(self: ProcessService, bucket: str, obj: str, gen: int) -> bytes:
        payload = real_download(self, bucket, obj, gen)
        if not later:
            later.append(world.put(name, _png("chelsea.png"), metadata=GRAYSCALE))
            world.deliver(later[0])
        return payload

    monkeypatch.setattr(ProcessService, "_download", download_then_overtake)
    world.deliver(first)
    new, old = _job_of(world, name, later[0]), _job_of(world, name, first)
    assert new["status"] == "done"
    assert old["status"] == "failed" and old["error"]["code"] == "superseded"
    result = world.result_object(f"{name}.jpg")
    assert result is not None and result.metadata == _metadata(new)


class RaceOnce:
    """Storage whose first read of a drop result is followed at once by another writer's
    object of `source_generation` at that name: the conditional write must then fail (412)
    and the comparison run again on what is there now."""

    def __init__(self, real: Any, source_generation: int) -> None:
        self._real, self._generation, self.raced = real, source_generation, False

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._real, attr)

    def bucket(self, name: str) -> Any:
        owner, real_bucket = self, self._real.bucket(name)

        class Bucket:
            def __getattr__(self, attr: str) -> Any:
                return getattr(real_bucket, attr)

            def get_blob(self, blob_name: str) -> Any:
                found = real_bucket.get_blob(blob_name)
                if not owner.raced:
                    owner.raced = True
                    other = real_bucket.blob(blob_name)
                    other.metadata = {"gazokako-source-generation": str(owner._generation)}
                    other.upload_from_string(b"another writer's", content_type="image/jpeg")
                return found

        return Bucket()


@pytest.mark.parametrize("newer", [True, False], ids=["newer-writer-wins", "older-writer-loses"])
def test_a_writer_between_the_read_and_the_write_makes_the_check_run_again(
    world: World, newer: bool
) -> None:
    name = f"inbox/{new_job_id()}.png"
    data = world.put(name, _png(), metadata=GRAYSCALE)
    gen = int(data["generation"])
    race = RaceOnce(world.clients.storage, gen + 1 if newer else gen - 1)
    world.clients.__dict__["storage"] = race  # the cached client, swapped for the wrapper
    world.deliver(data)
    assert race.raced
    job = _job_of(world, name, data)
    result = world.result_object(f"{name}.jpg")
    assert result is not None
    if newer:
        assert job["status"] == "failed" and job["error"]["code"] == "superseded"
        assert result.metadata == {"gazokako-source-generation": str(gen + 1)}
    else:
        assert job["status"] == "done" and result.metadata == _metadata(job)


def test_a_drop_in_the_api_results_folder_fails_with_reserved_name(world: World) -> None:
    name = f"r/{new_job_id()}/1.jpg"
    data = world.put(name, _jpeg(), "image/jpeg", metadata=GRAYSCALE)
    world.deliver(data)
    job = _job_of(world, name, data)
    assert job["status"] == "failed" and job["error"]["code"] == "reserved_name"
    assert world.result_object(f"{name}.jpg") is None
    # A failed job keeps no photo: the drop is deleted too.
    assert world.clients.storage.bucket(world.config.uploads_bucket).get_blob(name) is None


def test_a_drop_whose_result_name_would_be_too_long_fails_and_erases(world: World) -> None:
    name = "inbox/" + "a" * 1010 + ".jpg"  # a valid object name, but not with ".webp" after it
    data = world.put(name, _jpeg(), "image/jpeg", metadata=GRAYSCALE)
    world.deliver(data)
    job = _job_of(world, name, data)
    assert job["status"] == "failed" and job["error"]["code"] == "name_too_long"
    assert world.clients.storage.bucket(world.config.uploads_bucket).get_blob(name) is None
    UploadService(world.clients).delete_job(job["id"])
    assert world.job(job["id"])["status"] == jobs.DELETED


def test_a_failed_newer_generation_leaves_the_older_result(world: World) -> None:
    name = f"inbox/{new_job_id()}.png"
    first = world.put(name, _png(), metadata=GRAYSCALE)
    world.deliver(first)
    second = world.put(name, b"\x89PNG\r\n\x1a\n broken", metadata=GRAYSCALE)
    world.deliver(second)
    assert _job_of(world, name, second)["status"] == "failed"
    result = world.result_object(f"{name}.jpg")
    assert result is not None and result.metadata == _metadata(_job_of(world, name, first))


def test_get_of_an_older_generations_job_offers_no_result_that_is_not_its_own(
    world: World, tmp_path: Path
) -> None:
    name = f"inbox/{new_job_id()}.png"
    first = world.put(name, _png("coffee.png"), metadata=GRAYSCALE)
    world.deliver(first)
    key = ensure_signing_key(tmp_path / "signing-key.json", world.config.project)
    api = UploadService(world.with_config(local_signing_key_file=str(key)).clients)
    old = _job_of(world, name, first)
    assert api.describe_job(old["id"])["result"]["width"] == 600
    second = world.put(name, _png("chelsea.png"), metadata=GRAYSCALE)
    world.deliver(second)
    shown = api.describe_job(old["id"])
    assert shown["status"] == "done" and "result" not in shown
    newer = api.describe_job(_job_of(world, name, second)["id"])
    assert newer["result"]["width"] == 451 and newer["result"]["url"]


def test_erasing_a_drop_job_removes_only_its_own_result(world: World) -> None:
    name = f"inbox/{new_job_id()}.png"
    first = world.put(name, _png("coffee.png"), metadata=GRAYSCALE)
    world.deliver(first)
    old = _job_of(world, name, first)
    second = world.put(name, _png("chelsea.png"), metadata=GRAYSCALE)
    world.deliver(second)
    new = _job_of(world, name, second)
    # The older job's record still names the object, but the object is the newer job's.
    assert old["result"]["name"] == new["result"]["name"] == f"{name}.jpg"
    UploadService(world.clients).delete_job(old["id"])
    kept = world.result_object(f"{name}.jpg")
    assert kept is not None and kept.metadata == _metadata(new)
    UploadService(world.clients).delete_job(new["id"])
    assert world.result_object(f"{name}.jpg") is None
    assert world.job(new["id"])["status"] == "deleted"


def test_a_drop_erased_between_result_write_and_finish_leaves_no_result(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"inbox/{new_job_id()}.png"
    data = world.put(name, _png(), metadata=GRAYSCALE)
    real_write = ProcessService._upload_drop_result

    def write_then_delete(self: ProcessService, *args: Any) -> bool:
        written = real_write(self, *args)
        (job,) = world.drop_jobs(name)
        UploadService(world.clients).delete_job(job["id"])
        return written

    monkeypatch.setattr(ProcessService, "_upload_drop_result", write_then_delete)
    world.deliver(data)
    assert world.result_object(f"{name}.jpg") is None
    assert world.drop_jobs(name) == []  # only the tombstone is left


def test_attempts_exhausted_removes_what_a_dead_attempt_wrote(world: World) -> None:
    """A holder wrote the result and died before its record; once attempts run out, the
    job fails and its own result goes."""
    world = world.with_config(max_attempts=1)
    name = f"inbox/{new_job_id()}.png"
    data = world.put(name, _png(), metadata=GRAYSCALE)
    gen = int(data["generation"])
    job_id, now = new_job_id(), jobs.utcnow()
    fields = jobs.drop_job(
        job_id,
        bucket=world.config.uploads_bucket,
        name=name,
        generation=gen,
        ops=["grayscale"],
        filename="photo.png",
        content_type="image/png",
        declared_bytes=int(data["size"]),
        now=now,
        expires_at=now + dt.timedelta(days=1),
    )
    world.store.create_drop_job(world.config.uploads_bucket, name, gen, fields, job_id)
    world.store.claim(job_id, gen, lease_seconds=300)
    left = world.clients.storage.bucket(world.config.results_bucket).blob(f"{name}.jpg")
    left.metadata = ids.result_metadata(job_id, gen, 0)
    left.upload_from_string(b"half a result", content_type="image/jpeg")
    world.store.update(job_id, {"lease_until": jobs.utcnow()})
    world.deliver(data)
    assert world.job(job_id)["error"]["code"] == "too_many_attempts"
    assert world.result_object(f"{name}.jpg") is None
