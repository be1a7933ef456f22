"""The process service on real emulators: claim, duplicates, concurrency, generations, leases,
permanent and transient errors, direct drops, fail-closed face operations."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
import pytest
from google.api_core import exceptions as gexc

import imaging
import imaging.detect
import imaging.pipeline
from gazokako import jobs
from gazokako.errors import TransientError
from gazokako.ids import log_ref, new_job_id, source_object_name
from tests.imaging import fixtures as fx
from tests.process.conftest import World
from tests.support.corpus import skimage_image

TIMINGS = {"download", "decode", "detect", "filter", "encode", "upload", "total"}


def _png(name: str = "coffee.png") -> bytes:
    return skimage_image(name)


def _jpeg(name: str = "coffee.png") -> bytes:
    img = cv2.imdecode(np.frombuffer(skimage_image(name), np.uint8), cv2.IMREAD_COLOR)
    ok, out = cv2.imencode(".jpg", img)
    assert ok
    return out.tobytes()


def _logged(capsys: pytest.CaptureFixture[str], event: str, job_id: str) -> list[dict[str, Any]]:
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    return [e for e in lines if e.get("event") == event and e.get("job") == log_ref(job_id)]


def _deliver_until_settled(world: World, data: dict[str, Any], *, rounds: int = 20) -> int:
    """Redeliver while the service asks for it (raises), as Eventarc would, with its backoff
    (the fakes answer at once, so without it every round could pass within another
    delivery's processing); returns the retries."""
    for retry in range(rounds):
        try:
            world.deliver(data)
        except TransientError:
            time.sleep(min(0.01 * 2**retry, 0.5))
            continue
        return retry
    raise AssertionError("the event was never settled")


def _expire_lease(world: World, job_id: str) -> None:
    """What the passing of lease_seconds does to a claim whose holder died."""
    world.store.update(job_id, {"lease_until": jobs.utcnow() - dt.timedelta(seconds=1)})


# -- the complete record ---------------------------------------------------------------------
def test_api_job_done_records_source_result_timings(world: World) -> None:
    job_id = world.new_api_job(["grayscale"])
    photo = _png()
    data = world.put(source_object_name(job_id), photo)
    world.deliver(data)

    job = world.job(job_id)
    assert job["status"] == "done" and job["origin"] == "api"
    assert job["generation"] == int(data["generation"]) and job["attempts"] == 1
    src = job["source"]
    assert src["bucket"] == world.config.uploads_bucket and src["name"] == f"u/{job_id}/source"
    assert src["generation"] == int(data["generation"])
    assert src["bytes"] == len(photo) and src["content_type"] == "image/png"
    assert src["sha256"] == hashlib.sha256(photo).hexdigest()
    assert (src["width"], src["height"], src["format"]) == (600, 400, "png")
    res = job["result"]
    assert res["bucket"] == world.config.results_bucket
    assert res["name"] == f"r/{job_id}/{data['generation']}.jpg"
    assert (res["width"], res["height"], res["format"]) == (600, 400, "jpeg")
    blobs = world.results(job_id)
    assert [b.name for b in blobs] == [res["name"]] and blobs[0].size == res["bytes"]
    assert job["faces"] == {"count": 0, "boxes": [], "unverified": 0} and job["detector"] is None
    assert set(job["timings_ms"]) == TIMINGS
    assert job["timings_ms"]["total"] >= job["timings_ms"]["decode"] > 0
    assert job["expires_at"] > jobs.utcnow() + dt.timedelta(days=world.config.job_ttl_days - 1)
    assert "lease_until" not in job and "claim_token" not in job and "error" not in job
    assert job["finished_at"] >= job["claimed_at"]
    # Kept by default (DELETE_ORIGINALS off).
    assert world.clients.storage.bucket(src["bucket"]).get_blob(src["name"]) is not None


def test_face_job_records_faces_and_detector(world: World) -> None:
    job_id = world.new_api_job(["mosaic_faces"])
    world.deliver(world.put(source_object_name(job_id), _png("astronaut.png")))
    job = world.job(job_id)
    assert job["status"] == "done"
    assert job["faces"]["count"] == len(job["faces"]["boxes"]) >= 1
    assert set(job["faces"]["boxes"][0]) == {"x", "y", "w", "h", "score"}
    assert job["faces"]["unverified"] == 0
    # "name@version" from imaging, split into the two fields of the record.
    assert job["detector"]["name"] and job["detector"]["version"]
    assert "@" not in job["detector"]["name"]
    assert job["timings_ms"]["detect"] > 0


def test_originals_deleted_after_success_when_configured(
    make_world: Callable[..., World],
) -> None:
    world = make_world(delete_originals=True)
    job_id = world.new_api_job(["grayscale"])
    data = world.put(source_object_name(job_id), _png())
    world.deliver(data)
    job = world.job(job_id)
    assert job["status"] == "done" and job["source"]["deleted"] is True
    assert world.clients.storage.bucket(data["bucket"]).get_blob(data["name"]) is None
    # A late duplicate after the deletion still changes nothing.
    world.deliver(data)
    assert world.job(job_id)["finished_at"] == job["finished_at"]


# -- exactly one outcome -----------------------------------------------------------------------
def test_duplicate_event_does_nothing(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    job_id = world.new_api_job(["grayscale"])
    data = world.put(source_object_name(job_id), _png())
    world.deliver(data)
    first = world.job(job_id)
    world.deliver(data)
    world.deliver(data)
    again = world.job(job_id)
    assert again == first
    assert len(world.results(job_id)) == 1
    assert len(_logged(capsys, "job.done", job_id)) == 1


def test_simultaneous_deliveries_make_one_result_and_one_record(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    job_id = world.new_api_job(["grayscale"])
    data = world.put(source_object_name(job_id), _png("chelsea.png"))
    n = 6
    gate = threading.Barrier(n)
    outcomes: list[str] = []
    lock = threading.Lock()

    def one() -> None:
        gate.wait()
        try:
            world.deliver(data)
            outcome = "ok"
        except TransientError:
            outcome = "retry"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(outcomes) == n
    # The retried ones come back later, as Eventarc redelivers them; they find the job done.
    for _ in range(outcomes.count("retry")):
        _deliver_until_settled(world, data)
    job = world.job(job_id)
    assert job["status"] == "done" and job["attempts"] == 1
    assert [b.name for b in world.results(job_id)] == [job["result"]["name"]]
    assert len(_logged(capsys, "job.done", job_id)) == 1


def test_newer_generation_is_processed_again_and_replaces_the_result(world: World) -> None:
    job_id = world.new_api_job(["grayscale"])
    old = world.put(source_object_name(job_id), _png("coffee.png"))
    world.deliver(old)
    first = world.job(job_id)
    new = world.put(source_object_name(job_id), _png("chelsea.png"))
    assert int(new["generation"]) > int(old["generation"])
    world.deliver(new)
    job = world.job(job_id)
    assert job["status"] == "done" and job["generation"] == int(new["generation"])
    assert job["source"]["sha256"] == hashlib.sha256(_png("chelsea.png")).hexdigest()
    assert job["result"]["name"] != first["result"]["name"]
    # The older result is removed: nothing unnamed by the record is left behind.
    assert [b.name for b in world.results(job_id)] == [job["result"]["name"]]
    # The old generation's event, arriving late, changes nothing.
    world.deliver(old)
    assert world.job(job_id) == job


def test_older_generation_arriving_after_newer_is_ignored(world: World) -> None:
    job_id = world.new_api_job(["grayscale"])
    old = world.put(source_object_name(job_id), _png("coffee.png"))
    new = world.put(source_object_name(job_id), _png("chelsea.png"))
    world.deliver(new)
    done = world.job(job_id)
    world.deliver(old)
    assert world.job(job_id) == done
    assert len(world.results(job_id)) == 1


# -- leases --------------------------------------------------------------------------------------
def test_job_left_processing_by_a_crashed_instance_is_reclaimed(world: World) -> None:
    job_id = world.new_api_job(["grayscale"])
    data = world.put(source_object_name(job_id), _png())
    gen = int(data["generation"])
    crashed = world.store.claim(job_id, gen, lease_seconds=300)
    assert crashed.outcome is jobs.ClaimOutcome.CLAIMED
    # While the lease lives, the redelivery is told to come back later.
    with pytest.raises(TransientError):
        world.deliver(data)
    assert world.job(job_id)["status"] == "processing"
    _expire_lease(world, job_id)
    world.deliver(data)
    job = world.job(job_id)
    assert job["status"] == "done" and job["attempts"] == 2
    # The crashed holder, were it to wake up, can no longer write an outcome.
    assert not world.store.finish(job_id, gen, {"status": "failed"}, token=crashed.token)
    assert world.job(job_id)["status"] == "done"


def test_a_generation_that_never_finishes_fails_after_max_attempts(
    make_world: Callable[..., World],
) -> None:
    world = make_world(max_attempts=2)
    job_id = world.new_api_job(["grayscale"])
    data = world.put(source_object_name(job_id), _png())
    gen = int(data["generation"])
    for _ in range(2):  # two instances died holding it
        assert world.store.claim(job_id, gen, lease_seconds=300).outcome.value == "claimed"
        _expire_lease(world, job_id)
    world.deliver(data)  # acknowledged: the job has its outcome
    job = world.job(job_id)
    assert job["status"] == "failed" and job["error"]["code"] == "too_many_attempts"
    assert job["lost_claims"] == 1  # the second holder's death is the one that ends it
    assert world.results(job_id) == []


# -- permanent errors: failed with a code, event acknowledged -----------------------------------
@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"this is not an image at all", "unsupported_format"),
        (_jpeg()[:4000], "truncated"),
    ],
    ids=["not-an-image", "truncated-jpeg"],
)
def test_permanent_errors_fail_the_job_and_ack(world: World, payload: bytes, code: str) -> None:
    job_id = world.new_api_job(["grayscale"])
    world.deliver(world.put(source_object_name(job_id), payload, "image/jpeg"))  # returns: acked
    job = world.job(job_id)
    assert job["status"] == "failed" and job["error"]["code"] == code
    assert job["error"]["message"]
    assert job["source"]["bytes"] == len(payload) and "result" not in job
    assert world.results(job_id) == []


def test_over_the_pixel_limit_fails(make_world: Callable[..., World]) -> None:
    world = make_world(max_pixels=100_000)
    job_id = world.new_api_job(["grayscale"])
    world.deliver(world.put(source_object_name(job_id), _png()))
    job = world.job(job_id)
    assert job["status"] == "failed" and job["error"]["code"] == "too_many_pixels"


def test_over_the_byte_limit_fails_without_download(make_world: Callable[..., World]) -> None:
    world = make_world(max_upload_bytes=1000)
    job_id = world.new_api_job(["grayscale"])
    world.deliver(world.put(source_object_name(job_id), _png()))
    job = world.job(job_id)
    assert job["status"] == "failed" and job["error"]["code"] == "too_many_bytes"
    assert job["timings_ms"]["download"] == 0


def test_source_without_a_job_is_acknowledged_and_leaves_nothing(world: World) -> None:
    job_id = new_job_id()
    world.deliver(world.put(source_object_name(job_id), _png()))
    assert world.store.get(job_id) is None
    assert world.results(job_id) == []


def test_face_operations_fail_closed(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    def unavailable(*_args: Any, **_kwargs: Any) -> Any:
        raise imaging.DetectionUnavailable("detector missing in this test")

    # Whatever the detector, the pipeline's one call into it fails as a missing model would.
    monkeypatch.setattr(imaging.pipeline, "detect_faces", unavailable)
    job_id = world.new_api_job(["grayscale", "mosaic_faces"])
    world.deliver(world.put(source_object_name(job_id), _png("astronaut.png")))
    job = world.job(job_id)
    assert job["status"] == "failed" and job["error"]["code"] == "detection_unavailable"
    assert "result" not in job and world.results(job_id) == []


def test_budget_exhausted_faces_are_recorded(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    # A crowd or a wallpaper of faces runs detection out of its budget per image: what was
    # not examined is redacted anyway (tests/imaging/test_budget.py), and the job record says
    # how many of its boxes those are.
    def out_of_budget(img: Any, **_kwargs: Any) -> Any:
        box = imaging.FaceBox(x=10, y=10, w=30, h=40, score=0.07)
        return imaging.detect.Detection(faces=(box,), detector="d@1", unverified=1)

    monkeypatch.setattr(imaging.pipeline, "detect_faces", out_of_budget)
    job_id = world.new_api_job(["mosaic_faces"])
    world.deliver(world.put(f"u/{job_id}/source", _png("astronaut.png")))
    job = world.job(job_id)
    assert job["status"] == "done"
    assert job["faces"]["count"] == 1 and job["faces"]["unverified"] == 1


# -- transient errors: raise, release, redelivery succeeds ------------------------------------
class FlakyStorage:
    """A storage client whose next `fail` downloads or uploads answer 503, then the real one.

    The emulator cannot be made to fail one request on cue; Cloud Storage does, now and then.
    """

    def __init__(self, real: Any, *, fail_download: int = 0, fail_upload: int = 0) -> None:
        self._real = real
        self.fail = {"download": fail_download, "upload": fail_upload}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def bucket(self, name: str) -> Any:
        return _FlakyBucket(self, self._real.bucket(name))

    def trip(self, kind: str) -> None:
        if self.fail[kind] > 0:
            self.fail[kind] -= 1
            raise gexc.ServiceUnavailable(f"injected 503 on {kind}")


class _FlakyBucket:
    def __init__(self, owner: FlakyStorage, real: Any) -> None:
        self._owner, self._real = owner, real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def blob(self, *args: Any, **kwargs: Any) -> Any:
        return _FlakyBlob(self._owner, self._real.blob(*args, **kwargs))


class _FlakyBlob:
    def __init__(self, owner: FlakyStorage, real: Any) -> None:
        self._owner, self._real = owner, real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def download_as_bytes(self, *args: Any, **kwargs: Any) -> Any:
        self._owner.trip("download")
        return self._real.download_as_bytes(*args, **kwargs)

    def upload_from_string(self, *args: Any, **kwargs: Any) -> Any:
        self._owner.trip("upload")
        return self._real.upload_from_string(*args, **kwargs)


@pytest.mark.parametrize("where", ["download", "upload"])
def test_transient_storage_error_raises_then_redelivery_succeeds(world: World, where: str) -> None:
    job_id = world.new_api_job(["grayscale"])
    data = world.put(source_object_name(job_id), _png())
    flaky = FlakyStorage(world.clients.storage, **{f"fail_{where}": 1})
    world.clients.__dict__["storage"] = flaky  # the cached client, swapped for the wrapper
    with pytest.raises(TransientError):
        world.deliver(data)
    assert flaky.fail[where] == 0  # the injected fault was hit
    held = world.job(job_id)
    # Still processing, but the claim was handed back: the redelivery need not wait a lease.
    assert held["status"] == "processing" and held["lease_until"] <= jobs.utcnow()
    assert "claim_token" not in held
    world.deliver(data)
    job = world.job(job_id)
    assert job["status"] == "done" and job["attempts"] == 2
    assert [b.name for b in world.results(job_id)] == [job["result"]["name"]]


def test_transient_failures_are_not_counted_as_crashes(make_world: Callable[..., World]) -> None:
    world = make_world(max_attempts=1)
    job_id = world.new_api_job(["grayscale"])
    data = world.put(source_object_name(job_id), _png())
    world.clients.__dict__["storage"] = FlakyStorage(world.clients.storage, fail_download=3)
    for _ in range(3):
        with pytest.raises(TransientError):
            world.deliver(data)
    world.deliver(data)
    job = world.job(job_id)
    assert job["status"] == "done" and job["attempts"] == 4 and job["lost_claims"] == 0


# -- direct bucket drops ------------------------------------------------------------------------
def test_drop_with_ops_metadata_gets_a_complete_job(world: World) -> None:
    name = f"inbox/{new_job_id()}/photo.png"
    data = world.put(name, _png(), metadata={"ops": " grayscale , "})
    world.deliver(data)
    found = world.drop_jobs(name)
    gens = {j["source"]["generation"] for j in found}
    assert int(data["generation"]) in gens
    job = next(j for j in found if j["source"]["generation"] == int(data["generation"]))
    assert job["origin"] == "drop" and job["ops"] == ["grayscale"]
    assert len(job["id"]) == 32 and job["filename"] == "photo.png"
    assert job["status"] == "done" and job["source"]["name"] == name
    assert job["source"]["sha256"] == hashlib.sha256(_png()).hexdigest()
    assert set(job["timings_ms"]) == TIMINGS and job["expires_at"] > jobs.utcnow()
    # Named after the drop (docs/JOBS.md), nothing under the API's r/{id}/.
    assert job["result"]["name"] == f"{name}.jpg" and world.results(job["id"]) == []
    assert world.result_object(f"{name}.jpg") is not None


def test_redelivered_drop_makes_no_second_job(world: World) -> None:
    name = f"drops/{new_job_id()}.png"
    data = world.put(name, _png(), metadata={"ops": "grayscale"})
    n = 5
    gate = threading.Barrier(n)

    def one() -> None:
        gate.wait()
        _deliver_until_settled(world, data)

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    world.deliver(data)
    found = world.drop_jobs(name)
    assert len(found) == 1 and found[0]["status"] == "done" and found[0]["attempts"] == 1
    result = world.result_object(f"{name}.jpg")
    assert result is not None and result.metadata["gazokako-job"] == found[0]["id"]


def test_drop_without_metadata_uses_the_default_ops(make_world: Callable[..., World]) -> None:
    world = make_world(default_ops=("mosaic_faces",))
    name = f"inbox/{new_job_id()}.png"
    world.deliver(world.put(name, _png("astronaut.png")))
    (job,) = world.drop_jobs(name)
    assert job["ops"] == ["mosaic_faces"] and job["status"] == "done"
    assert job["faces"]["count"] >= 1 and job["detector"]["name"]


def test_drop_with_unknown_ops_fails_with_invalid_ops(world: World) -> None:
    name = f"inbox/{new_job_id()}.png"
    world.deliver(world.put(name, _png(), metadata={"ops": "grayscale,sepia"}))
    (job,) = world.drop_jobs(name)
    assert job["status"] == "failed" and job["error"]["code"] == "invalid_ops"
    assert job["ops"] == ["grayscale", "sepia"] and world.result_object(f"{name}.jpg") is None


def test_new_generation_of_a_dropped_name_is_a_new_job(world: World) -> None:
    name = f"inbox/{new_job_id()}.png"
    first = world.put(name, _png("coffee.png"), metadata={"ops": "grayscale"})
    world.deliver(first)
    second = world.put(name, _png("chelsea.png"), metadata={"ops": "grayscale"})
    world.deliver(second)
    world.deliver(first)
    found = world.drop_jobs(name)
    assert sorted(j["source"]["generation"] for j in found) == sorted(
        [int(first["generation"]), int(second["generation"])]
    )
    assert all(j["status"] == "done" for j in found)


def test_objects_outside_the_uploads_bucket_and_folders_are_ignored(world: World) -> None:
    world.deliver({"bucket": world.config.results_bucket, "name": "r/x/1.jpg", "generation": "1"})
    # A malformed event is acknowledged (it can never succeed), not retried forever.
    world.deliver({"bucket": world.config.uploads_bucket, "name": "inbox/a", "generation": "x"})
    assert world.drop_jobs("inbox/a") == []
    folder = world.put(f"inbox/{new_job_id()}/", b"", "application/x-directory")
    world.deliver(folder)
    assert world.drop_jobs(folder["name"]) == []


# -- phone formats: HEIC and AVIF, sniffed from the bytes whatever the declared type ----------
@pytest.mark.parametrize(
    ("encode", "declared", "fmt"),
    [
        (fx.heic, "image/heic", "heif"),
        (fx.avif, "image/avif", "avif"),
        (fx.heic, "image/avif", "heif"),  # a wrong label changes nothing
    ],
    ids=["heic", "avif", "heic-labelled-avif"],
)
def test_heic_and_avif_photos_are_redacted_to_a_plain_jpeg(
    world: World, encode: Callable[..., bytes], declared: str, fmt: str
) -> None:
    stored = cv2.rotate(
        cv2.imdecode(np.frombuffer(_png("astronaut.png"), np.uint8), cv2.IMREAD_COLOR),
        cv2.ROTATE_90_COUNTERCLOCKWISE,
    )
    photo = encode(stored, 6)  # EXIF with a GPS block; orientation as irot
    assert fx.SECRET in photo
    job_id = world.new_api_job(["mosaic_faces"])
    world.deliver(world.put(f"u/{job_id}/source", photo, declared))
    job = world.job(job_id)
    assert job["status"] == "done", job.get("error")
    assert job["source"]["format"] == fmt
    assert (job["source"]["width"], job["source"]["height"]) == (512, 512)
    assert job["faces"]["count"] >= 1
    assert job["result"]["format"] == "jpeg"
    out = world.results(job_id)[0].download_as_bytes()
    assert out[:3] == b"\xff\xd8\xff" and fx.SECRET not in out and b"Exif" not in out
