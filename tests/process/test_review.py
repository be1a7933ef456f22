"""Review revisions in the process function (gazokako/review.py), on the fakes and the emulators:
rendered from the retained source, claim and lease keyed on (generation, revision), duplicate
and late events do nothing, an older revision never overwrites a newer one, the record is
written last, and every failure leaves the previous result standing."""

from __future__ import annotations

import base64
import datetime as dt
import json
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import functions_framework
import numpy as np
import pytest

import gazokako.clients
from gazokako import jobs
from gazokako.errors import TransientError
from gazokako.events import pubsub_cloudevent
from gazokako.ids import revision_result_name, source_object_name
from gazokako.review import REVISION_EVENT, ReviewService, revision_key
from tests.fakes import FakeClients
from tests.process.conftest import World
from tests.support.corpus import skimage_image
from tests.support.topics import FailingPublisher, TopicReader

# astronaut.png (512 x 512): the face is near the top middle; the lower left is her suit and
# the background, nowhere near a face.
FREE_AREA = {"x": 16, "y": 400, "w": 96, "h": 96}


class Review:
    """A world's review service and the moves a test makes with it."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.finished: list[tuple[str, dict[str, Any]]] = []
        self.service = ReviewService(
            world.clients, on_finished=lambda i, doc: self.finished.append((i, dict(doc)))
        )

    def done_face_job(self, options: Mapping[str, Any] | None = None) -> str:
        """An API job of astronaut.png, processed automatically (mosaic_faces, PNG out)."""
        job_id = self.world.new_api_job(["mosaic_faces"], dict(options or {"format": "png"}))
        self.world.deliver(
            self.world.put(source_object_name(job_id), skimage_image("astronaut.png"))
        )
        job = self.world.job(job_id)
        assert job["status"] == "done" and job["faces"]["count"] >= 1, job
        return job_id

    def request(
        self, job_id: str, boxes: list[dict[str, int]], op: str = "mosaic_faces"
    ) -> jobs.RevisionRequest:
        return self.world.store.request_revision(
            job_id, key=revision_key(boxes, op), op=op, boxes=boxes
        )

    def deliver(self, job_id: str, revision: int) -> None:
        payload = json.dumps({"id": job_id, "revision": revision}).encode()
        data = {"message": {"data": base64.b64encode(payload).decode(), "messageId": "1"}}
        self.service.handle_message({"type": REVISION_EVENT, "id": "ce-1"}, data)


@pytest.fixture
def review(world: World) -> Review:
    return Review(world)


def _pixels(data: bytes) -> np.ndarray[Any, Any]:
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None
    return img


def _crop(img: np.ndarray[Any, Any], box: Mapping[str, int]) -> np.ndarray[Any, Any]:
    return img[box["y"] : box["y"] + box["h"], box["x"] : box["x"] + box["w"]].astype(int)


def _result_bytes(world: World, job: Mapping[str, Any]) -> bytes:
    blob = world.clients.storage.bucket(world.config.results_bucket).blob(job["result"]["name"])
    return bytes(blob.download_as_bytes())


def test_a_revision_is_rendered_from_the_source(review: Review, world: World) -> None:
    job_id = review.done_face_job()
    before = world.job(job_id)
    face = before["faces"]["boxes"][0]
    face_box = {k: face[k] for k in ("x", "y", "w", "h")}
    auto = _pixels(_result_bytes(world, before))
    source = _pixels(skimage_image("astronaut.png"))
    # The automatic result hid the face.
    assert np.abs(_crop(auto, face_box) - _crop(source, face_box)).mean() > 2

    # Release the face, add a box over a face-free area.
    asked = review.request(job_id, [FREE_AREA])
    assert asked.outcome is jobs.RevisionOutcome.ACCEPTED and asked.revision == 1
    assert world.job(job_id)["status"] == "processing"
    review.deliver(job_id, 1)

    job = world.job(job_id)
    assert job["status"] == "done" and job["revision"] == 1
    assert job["faces"] == {
        "count": 1,
        "boxes": [{**FREE_AREA, "score": 1.0}],
        "unverified": 0,
        "reviewed": True,
    }
    gen = int(before["generation"])
    assert job["result"]["name"] == revision_result_name(job_id, gen, 1, "png")
    assert jobs.PENDING_REVISION not in job and "revision_error" not in job
    out = _pixels(_result_bytes(world, job))
    # The released face shows its real pixels (lossless PNG: exactly), the new box is hidden.
    assert np.array_equal(_crop(out, face_box), _crop(source, face_box))
    assert np.abs(_crop(out, FREE_AREA) - _crop(source, FREE_AREA)).mean() > 2
    # Only the new result is left: the automatic one went once the record named the new one.
    assert [b.name for b in world.results(job_id)] == [job["result"]["name"]]
    assert [i for i, _ in review.finished] == [job_id]
    assert review.finished[0][1]["revision"] == 1


def test_the_same_set_is_one_revision_and_duplicates_do_nothing(
    review: Review, world: World
) -> None:
    job_id = review.done_face_job()
    assert review.request(job_id, [FREE_AREA]).outcome is jobs.RevisionOutcome.ACCEPTED
    # Asked again while pending: the same revision, to be published again.
    again = review.request(job_id, [dict(FREE_AREA)])
    assert again.outcome is jobs.RevisionOutcome.PENDING and again.revision == 1
    other = review.request(job_id, [])
    assert other.outcome is jobs.RevisionOutcome.NOT_DONE and other.revision == 1
    review.deliver(job_id, 1)
    done = world.job(job_id)
    for _ in range(2):
        review.deliver(job_id, 1)
    assert world.job(job_id)["result"] == done["result"]
    assert world.job(job_id)["finished_at"] == done["finished_at"]
    assert len(review.finished) == 1
    # The same set in another order, once applied: no new revision.
    box2 = {"x": 200, "y": 420, "w": 30, "h": 30}
    assert review.request(job_id, [FREE_AREA]).outcome is jobs.RevisionOutcome.CURRENT
    assert review.request(job_id, [FREE_AREA], "blur_faces").revision == 2
    review.deliver(job_id, 2)
    swapped = review.request(job_id, [box2, FREE_AREA])
    assert swapped.outcome is jobs.RevisionOutcome.ACCEPTED and swapped.revision == 3
    review.deliver(job_id, 3)
    assert review.request(job_id, [FREE_AREA, box2]).outcome is jobs.RevisionOutcome.CURRENT
    assert world.job(job_id)["revision"] == 3


def test_simultaneous_deliveries_make_one_outcome(review: Review, world: World) -> None:
    job_id = review.done_face_job()
    review.request(job_id, [FREE_AREA])
    errors: list[BaseException] = []
    failed = threading.Event()

    def deliver() -> None:
        # Busy (another delivery holds the claim) is a redelivery later, as Eventarc does; it
        # ends when the holder has finished, however long that takes on this machine.
        while not failed.is_set():
            try:
                review.deliver(job_id, 1)
                return
            except TransientError:
                failed.wait(0.05)
            except BaseException as exc:
                errors.append(exc)
                failed.set()

    threads = [threading.Thread(target=deliver) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    job = world.job(job_id)
    assert job["revision"] == 1 and job["status"] == "done"
    assert len(review.finished) == 1
    assert [b.name for b in world.results(job_id)] == [job["result"]["name"]]


def test_a_late_older_revision_never_overwrites_a_newer_one(review: Review, world: World) -> None:
    job_id = review.done_face_job()
    review.request(job_id, [FREE_AREA])
    review.deliver(job_id, 1)
    review.request(job_id, [])
    review.deliver(job_id, 2)
    newer = world.job(job_id)
    assert newer["revision"] == 2 and newer["faces"]["count"] == 0
    review.deliver(job_id, 1)  # late redelivery of revision 1
    assert world.job(job_id)["result"] == newer["result"]
    assert world.job(job_id)["revision"] == 2
    # An event for a number never handed out does nothing either.
    review.deliver(job_id, 9)
    assert world.job(job_id)["revision"] == 2


def test_a_vanished_source_fails_the_revision_and_keeps_the_result(
    review: Review, world: World
) -> None:
    job_id = review.done_face_job()
    before = world.job(job_id)
    source = before["source"]
    world.clients.storage.bucket(source["bucket"]).blob(source["name"]).delete()
    review.request(job_id, [FREE_AREA])
    review.deliver(job_id, 1)
    job = world.job(job_id)
    assert job["status"] == "done" and job["revision"] == 0
    assert job["result"] == before["result"] and job["faces"] == before["faces"]
    assert job["revision_error"]["code"] == "review_closed"
    assert job["revision_error"]["revision"] == 1
    assert job["source"]["deleted"] is True
    assert [b.name for b in world.results(job_id)] == [before["result"]["name"]]
    assert len(review.finished) == 1
    # From now on the review is closed.
    closed = review.request(job_id, [])
    assert closed.outcome is jobs.RevisionOutcome.CLOSED


def test_review_is_closed_for_drops_deleted_sources_and_past_windows(
    review: Review, world: World
) -> None:
    job_id = review.done_face_job()
    past = jobs.utcnow() - dt.timedelta(seconds=1)
    world.store.update(job_id, {"review_until": past})
    refused = review.request(job_id, [])
    assert refused.outcome is jobs.RevisionOutcome.CLOSED and "window" in refused.reason
    world.store.update(job_id, {"review_until": jobs.utcnow() + dt.timedelta(minutes=5)})
    assert review.request(job_id, []).outcome is jobs.RevisionOutcome.ACCEPTED
    world.store.update(job_id, {"origin": "drop"})
    refused = review.request(job_id, [FREE_AREA])
    assert refused.outcome is jobs.RevisionOutcome.CLOSED and "drop" in refused.reason
    fresh = world.new_api_job(["mosaic_faces"])
    assert review.request(fresh, []).outcome is jobs.RevisionOutcome.NOT_DONE


def test_a_withdrawn_revision_is_not_rendered(review: Review, world: World) -> None:
    job_id = review.done_face_job()
    before = world.job(job_id)
    review.request(job_id, [FREE_AREA])
    assert world.store.withdraw_revision(job_id, 1)
    job = world.job(job_id)
    assert job["status"] == "done" and jobs.PENDING_REVISION not in job
    review.deliver(job_id, 1)  # it was published after all
    assert world.job(job_id)["result"] == before["result"]
    # The next request gets a new number: 1 is never reused.
    assert review.request(job_id, [FREE_AREA]).revision == 2


def test_a_claimed_revision_is_not_withdrawn(review: Review, world: World) -> None:
    job_id = review.done_face_job()
    review.request(job_id, [FREE_AREA])
    claim = world.store.claim_revision(job_id, 1, lease_seconds=60)
    assert claim.outcome is jobs.ClaimOutcome.CLAIMED
    assert not world.store.withdraw_revision(job_id, 1)
    assert world.job(job_id)["status"] == "processing"


def test_a_dead_holder_is_taken_over_then_the_revision_fails(review: Review, world: World) -> None:
    job_id = review.done_face_job()
    before = world.job(job_id)
    review.request(job_id, [FREE_AREA])
    first = world.store.claim_revision(job_id, 1, lease_seconds=60)
    assert first.outcome is jobs.ClaimOutcome.CLAIMED
    with pytest.raises(TransientError):
        review.deliver(job_id, 1)  # busy: the lease is live
    job = world.job(job_id)
    pending = dict(job[jobs.PENDING_REVISION])
    pending["lease_until"] = jobs.utcnow() - dt.timedelta(seconds=1)
    world.store.update(job_id, {jobs.PENDING_REVISION: pending})
    review.deliver(job_id, 1)  # takes over and renders
    assert world.job(job_id)["revision"] == 1
    # The dead holder's finish comes too late.
    assert not world.store.finish_revision(job_id, 1, first.token, {"status": "failed"})

    # A revision whose holders keep dying fails; the previous result stands.
    exhausting = review.world.with_config(max_attempts=1)
    review.request(job_id, [])
    dying = exhausting.store.claim_revision(job_id, 2, lease_seconds=60)
    assert dying.outcome is jobs.ClaimOutcome.CLAIMED
    pending = dict(world.job(job_id)[jobs.PENDING_REVISION])
    pending["lease_until"] = jobs.utcnow() - dt.timedelta(seconds=1)
    world.store.update(job_id, {jobs.PENDING_REVISION: pending})
    Review(exhausting).deliver(job_id, 2)
    job = world.job(job_id)
    assert job["status"] == "done" and job["revision"] == 1
    assert job["revision_error"]["code"] == "too_many_attempts"
    assert job["result"]["name"] != before["result"]["name"]


def test_an_erasure_while_rendering_leaves_nothing(review: Review, world: World) -> None:
    job_id = review.done_face_job()
    review.request(job_id, [FREE_AREA])
    real_finish = world.store.finish_revision

    def erase_first(*args: Any, **kwargs: Any) -> bool:
        world.store.erase(job_id)
        return real_finish(*args, **kwargs)

    review.service.store.finish_revision = erase_first  # type: ignore[method-assign]
    review.deliver(job_id, 1)
    assert world.job(job_id)["status"] == "deleted"
    # The automatic result is DELETE's to remove; the revision's result is the processor's.
    names = [b.name for b in world.results(job_id)]
    assert not [n for n in names if ".r1." in n]
    assert review.finished == []
    review.deliver(job_id, 1)  # a redelivery finds a tombstone
    assert review.finished == []


def test_a_duplicate_tidies_a_result_left_by_a_crash(review: Review, world: World) -> None:
    job_id = review.done_face_job()
    old_name = world.job(job_id)["result"]["name"]
    review.request(job_id, [FREE_AREA])
    real_delete = review.service._delete_result

    def crash(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("instance died after recording the revision")

    review.service._delete_result = crash  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        review.deliver(job_id, 1)
    review.service._delete_result = real_delete  # type: ignore[method-assign]
    job = world.job(job_id)
    assert job["revision"] == 1
    assert old_name in [b.name for b in world.results(job_id)]
    review.deliver(job_id, 1)  # the redelivery
    assert [b.name for b in world.results(job_id)] == [job["result"]["name"]]


def test_a_late_finalize_event_does_not_redo_a_reviewed_job(review: Review, world: World) -> None:
    job_id = review.done_face_job()
    src = world.job(job_id)["source"]
    event = {
        "bucket": src["bucket"],
        "name": src["name"],
        "generation": str(src["generation"]),
        "size": str(src["bytes"]),
        "contentType": "image/png",
    }
    review.request(job_id, [FREE_AREA])
    world.deliver(event)  # the upload's event, redelivered while the revision is pending
    job = world.job(job_id)
    assert job["status"] == "processing" and job[jobs.PENDING_REVISION]["revision"] == 1
    review.deliver(job_id, 1)
    world.deliver(event)
    assert world.job(job_id)["revision"] == 1
    assert world.job(job_id)["faces"]["reviewed"] is True


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"message": {"data": "not base64!"}},
        {"message": {"data": base64.b64encode(b"[1]").decode()}},
        {"message": {"data": base64.b64encode(b'{"id": "short", "revision": 1}').decode()}},
    ],
)
def test_malformed_messages_are_acknowledged(review: Review, data: dict[str, Any]) -> None:
    review.service.handle_message({"type": REVISION_EVENT}, data)
    assert review.finished == []


SOURCE = Path(__file__).resolve().parents[2] / "functions" / "process" / "main.py"


@pytest.fixture
def revision_function(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The deployed `process_revision` entry point in-process, on the world's backend."""
    cfg = world.config
    monkeypatch.setenv("PROJECT_ID", cfg.project)
    monkeypatch.setenv("UPLOADS_BUCKET", cfg.uploads_bucket)
    monkeypatch.setenv("RESULTS_BUCKET", cfg.results_bucket)
    fake = isinstance(world.clients, FakeClients)
    monkeypatch.setattr(gazokako.clients, "_clients", world.clients if fake else None)
    app = functions_framework.create_app(
        target="process_revision", source=str(SOURCE), signature_type="cloudevent"
    )
    yield app.test_client()
    sys.modules.pop("main", None)


def _send(client: Any, job_id: str, revision: int) -> Any:
    payload = json.dumps({"id": job_id, "revision": revision}).encode()
    data, headers = pubsub_cloudevent(
        "m-1",
        datetime.now(UTC),
        payload,
        {},
        topic="projects/p/topics/revisions",
        subscription="projects/p/subscriptions/s",
    )
    return client.post("/", data=json.dumps(data), headers=headers)


def test_the_entry_point_acks_a_rendered_revision_and_retries_a_busy_one(
    review: Review, world: World, revision_function: Any
) -> None:
    job_id = review.done_face_job()
    review.request(job_id, [FREE_AREA])
    holder = world.store.claim_revision(job_id, 1, lease_seconds=60)
    busy = _send(revision_function, job_id, 1)
    assert busy.status_code == 500  # another delivery holds the lease: come back later
    world.store.release_revision(job_id, 1, holder.token)
    done = _send(revision_function, job_id, 1)
    assert 200 <= done.status_code < 300, done.text
    assert world.job(job_id)["revision"] == 1
    late = _send(revision_function, job_id, 1)
    assert 200 <= late.status_code < 300


def test_an_abandoned_revision_does_not_wedge_the_job(review: Review, world: World) -> None:
    job_id = review.done_face_job()
    review.request(job_id, [FREE_AREA])
    # Another set while revision 1 is fresh: not now.
    assert review.request(job_id, []).outcome is jobs.RevisionOutcome.NOT_DONE
    # Its message never came (lost after a publish that said yes): once nobody has touched it
    # for longer than any render takes, a new set replaces it.
    pending = dict(world.job(job_id)[jobs.PENDING_REVISION])
    pending["requested_at"] = jobs.utcnow() - jobs.REVISION_ABANDONED_AFTER
    world.store.update(job_id, {jobs.PENDING_REVISION: pending})
    replaced = review.request(job_id, [])
    assert replaced.outcome is jobs.RevisionOutcome.ACCEPTED and replaced.revision == 2
    review.deliver(job_id, 1)  # the lost message after all: not the pending revision
    assert world.job(job_id)["status"] == "processing"
    # What a holder of revision 1 that died after writing it would have left, named by nobody.
    generation = int(world.job(job_id)["generation"])
    orphan = revision_result_name(job_id, generation, 1, "png")
    world.clients.storage.bucket(world.config.results_bucket).blob(orphan).upload_from_string(
        b"released face pixels", content_type="image/png"
    )
    review.deliver(job_id, 2)
    job = world.job(job_id)
    assert job["revision"] == 2 and job["faces"]["count"] == 0
    assert [b.name for b in world.results(job_id)] == [job["result"]["name"]]


@pytest.fixture
def outcome_world(
    make_topic_world: Callable[..., tuple[World, TopicReader]],
) -> tuple[World, TopicReader]:
    return make_topic_world()


def test_a_revision_publishes_one_outcome_keyed_on_its_number(
    outcome_world: tuple[World, TopicReader],
) -> None:
    world, reader = outcome_world
    review = Review(world)
    review.service.on_finished = None  # the deployed default: the outcome topic
    job_id = review.done_face_job()
    generation = int(world.job(job_id)["generation"])
    automatic = reader.drain()
    assert [m.body["key"] for m in automatic] == [f"{job_id}:{generation}:0"]
    review.request(job_id, [FREE_AREA])
    review.deliver(job_id, 1)
    for _ in range(2):
        review.deliver(job_id, 1)  # duplicates: no second copy
    messages = reader.drain()
    assert [m.body["key"] for m in messages] == [f"{job_id}:{generation}:1"]
    body = messages[0].body
    assert body["revision"] == 1 and body["status"] == "done" and body["faces"] == 1
    assert body["result"]["name"] == world.job(job_id)["result"]["name"]
    assert messages[0].attributes["outcome_key"] == f"{job_id}:{generation}:1"


def test_a_failed_revision_publishes_one_failed_outcome_of_its_own(
    outcome_world: tuple[World, TopicReader],
) -> None:
    """A revision that cannot be rendered leaves the job done with its previous result; its own
    outcome is a `failed` message keyed on its number, sent once."""
    world, reader = outcome_world
    review = Review(world)
    review.service.on_finished = None
    job_id = review.done_face_job()
    generation = int(world.job(job_id)["generation"])
    reader.drain()
    source = world.job(job_id)["source"]
    world.clients.storage.bucket(source["bucket"]).blob(source["name"]).delete()
    review.request(job_id, [FREE_AREA])
    for _ in range(2):
        review.deliver(job_id, 1)
    messages = reader.drain()
    assert [m.body["key"] for m in messages] == [f"{job_id}:{generation}:1"]
    body = messages[0].body
    assert body["status"] == "failed" and body["revision"] == 1 and body["faces"] is None
    assert body["error"]["code"] == "review_closed" and "result" not in body
    assert messages[0].attributes["status"] == "failed"
    assert world.job(job_id)["status"] == "done"


def test_no_revision_while_the_outcome_before_it_is_unpublished(
    outcome_world: tuple[World, TopicReader],
) -> None:
    """A revision accepted while the automatic outcome's publish is still to be retried would
    take the record's key, and that outcome would never reach the topic: it waits (409) until
    the redelivered event has published it."""
    world, reader = outcome_world
    review = Review(world)
    review.service.on_finished = None
    job_id = world.new_api_job(["mosaic_faces"], {"format": "png"})
    data = world.put(source_object_name(job_id), skimage_image("astronaut.png"))
    world.clients.__dict__["publisher"] = FailingPublisher(world.clients.publisher, fail=1)
    with pytest.raises(TransientError):
        world.deliver(data)
    assert world.job(job_id)["status"] == "done"
    refused = review.request(job_id, [FREE_AREA])
    assert refused.outcome is jobs.RevisionOutcome.NOT_DONE
    assert refused.reason == jobs.OUTCOME_PENDING
    world.deliver(data)  # Eventarc's redelivery publishes the automatic outcome
    generation = int(world.job(job_id)["generation"])
    assert [m.body["key"] for m in reader.drain()] == [f"{job_id}:{generation}:0"]
    assert review.request(job_id, [FREE_AREA]).outcome is jobs.RevisionOutcome.ACCEPTED
    review.deliver(job_id, 1)
    assert [m.body["key"] for m in reader.drain()] == [f"{job_id}:{generation}:1"]
