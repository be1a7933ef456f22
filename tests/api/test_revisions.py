"""POST /jobs/{id}/revisions in-process on the fakes: validation, the job states that refuse a
revision (404, 409, 410), idempotency on the box set, the message on REVISIONS_TOPIC, and a
failed publish that answers 503 without leaving the job pending."""

from __future__ import annotations

import datetime as dt
import json
from concurrent.futures import Future
from typing import Any

import pytest

from gazokako import jobs
from gazokako.review import MAX_BOXES
from tests.api.inprocess import InProcessApi
from tests.fakes import FakePublisher

GOOD = {"filename": "p.jpg", "content_type": "image/jpeg", "size": 1000, "ops": ["mosaic_faces"]}
FACE = {"x": 100, "y": 50, "w": 40, "h": 50, "score": 0.93}
TOPIC = "revisions-topic"
WIDTH, HEIGHT = 640, 480


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> InProcessApi:
    return InProcessApi(tmp_path_factory.mktemp("keys"), revisions_topic=TOPIC)


def _done_job(client: InProcessApi, **fields: Any) -> str:
    """A job as the processor leaves it: done, source kept, one detected face."""
    created = client.post("/uploads", json=GOOD).json()
    job_id: str = created["id"]
    ref = client.clients.firestore.collection(jobs.COLLECTION).document(job_id)
    ref.update(
        {
            "status": "done",
            "generation": 7,
            "source.generation": 7,
            "source.width": WIDTH,
            "source.height": HEIGHT,
            "result": {"bucket": "results", "name": f"r/{job_id}/7.jpg", "format": "jpeg"},
            "faces": {"count": 1, "boxes": [FACE], "unverified": 0},
            **fields,
        }
    )
    return job_id


def _published(client: InProcessApi) -> list[dict[str, Any]]:
    topic = client.clients.topic_path(TOPIC)
    return [json.loads(m.data) for m in client.clients.publisher.on(topic)]


def _post(client: InProcessApi, job_id: str, body: Any) -> Any:
    return client.post(f"/jobs/{job_id}/revisions", json=body)


def test_a_revision_is_accepted_and_published(client: InProcessApi) -> None:
    job_id = _done_job(client)
    before = len(_published(client))
    boxes = [{"x": 10, "y": 400, "w": 60, "h": 60}]
    resp = _post(client, job_id, {"boxes": boxes})
    assert resp.status_code == 202, resp.text
    view = resp.json()
    assert view["id"] == job_id and view["status"] == "processing"
    assert view["revision"] == 1 and view["review_until"] is None
    assert view["faces"]["reviewed"] is False  # still the automatic set until it is done
    assert "result" not in view
    assert resp.headers["Cache-Control"] == "no-store"
    assert _published(client)[before:] == [{"id": job_id, "revision": 1}]
    # GET shows the same.
    got = client.get(f"/jobs/{job_id}").json()
    assert got["status"] == "processing" and got["revision"] == 1
    pending = client.clients.firestore.collection(jobs.COLLECTION).document(job_id).get()
    recorded = pending.to_dict()[jobs.PENDING_REVISION]
    assert recorded["op"] == "mosaic_faces" and recorded["boxes"] == boxes
    assert recorded["generation"] == 7


def test_the_same_body_is_one_revision(client: InProcessApi) -> None:
    job_id = _done_job(client)
    a, b = {"x": 1, "y": 2, "w": 3, "h": 4}, {"x": 300, "y": 200, "w": 50, "h": 50}
    first = _post(client, job_id, {"boxes": [a, b], "op": "blur_faces"})
    assert first.status_code == 202 and first.json()["revision"] == 1
    # While pending: the same set (any order) is the same revision, published again.
    again = _post(client, job_id, {"boxes": [b, a], "op": "blur_faces"})
    assert again.status_code == 202 and again.json()["revision"] == 1
    assert _published(client)[-2:] == [{"id": job_id, "revision": 1}] * 2
    # Another set while one is pending: not now.
    busy = _post(client, job_id, {"boxes": [a]})
    assert busy.status_code == 409 and busy.json()["error"]["code"] == "not_done"
    assert "revision 1" in busy.json()["error"]["message"]
    # Once revision 1 is applied, the same body makes no new revision and publishes nothing.
    ref = client.clients.firestore.collection(jobs.COLLECTION).document(job_id)
    key = ref.get().to_dict()[jobs.PENDING_REVISION]["key"]
    ref.update(
        {
            "status": "done",
            "revision": 1,
            "revision_key": key,
            jobs.PENDING_REVISION: jobs.firestore.DELETE_FIELD,
            "faces": {"count": 2, "boxes": [a, b], "unverified": 0, "reviewed": True},
        }
    )
    count = len(_published(client))
    same = _post(client, job_id, {"boxes": [a, b], "op": "blur_faces"})
    assert same.status_code == 202
    assert same.json()["status"] == "done" and same.json()["revision"] == 1
    assert same.json()["faces"]["reviewed"] is True
    assert len(_published(client)) == count
    # The same boxes under another operation are another revision.
    other = _post(client, job_id, {"boxes": [a, b]})
    assert other.status_code == 202 and other.json()["revision"] == 2


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"boxes": [], "extra": 1}, "unknown field"),
        ({}, "boxes is required"),
        ({"boxes": {"x": 1}}, "boxes is required"),
        ({"boxes": [{"x": 0, "y": 0, "w": 1, "h": 1}] * (MAX_BOXES + 1)}, "at most 256"),
        ({"boxes": [{"x": 600, "y": 0, "w": 41, "h": 10}]}, "outside the 640x480 image"),
        ({"boxes": [{"x": 0, "y": 470, "w": 10, "h": 11}]}, "outside the 640x480 image"),
        ({"boxes": [{"x": 0, "y": 0, "w": 10_000, "h": 10}]}, "outside"),
        ({"boxes": [{"x": 0, "y": 0, "w": 70_000, "h": 10}]}, "larger than any image"),
        ({"boxes": [{"x": -1, "y": 0, "w": 10, "h": 10}]}, "x and y must be >= 0"),
        ({"boxes": [{"x": 0, "y": 0, "w": 0, "h": 10}]}, "empty"),
        ({"boxes": [{"x": 0, "y": 0, "w": 5, "h": -3}]}, "empty"),
        ({"boxes": [{"x": 1.5, "y": 0, "w": 5, "h": 5}]}, "boxes[0].x must be an integer"),
        ({"boxes": [{"x": "1", "y": 0, "w": 5, "h": 5}]}, "must be an integer"),
        ({"boxes": [{"x": True, "y": 0, "w": 5, "h": 5}]}, "must be an integer"),
        ({"boxes": [{"x": 0, "y": 0, "w": 5}]}, "boxes[0].h must be an integer"),
        ({"boxes": [{"x": 0, "y": 0, "w": 5, "h": 5, "label": "a"}]}, "unknown field"),
        ({"boxes": [{"x": 0, "y": 0, "w": 5, "h": 5, "score": "high"}]}, "score"),
        ({"boxes": [7]}, "boxes[0] must be an object"),
        ({"boxes": [], "op": "grayscale"}, "op must be one of"),
        ({"boxes": [], "op": {}}, "op must be one of"),
        ({"boxes": [], "op": ["blur_faces"]}, "op must be one of"),
    ],
)
def test_invalid_bodies_are_refused_with_the_reason(
    client: InProcessApi, body: dict[str, Any], words: str
) -> None:
    job_id = _done_job(client)
    resp = _post(client, job_id, body)
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["code"] in ("invalid_request", "invalid_ops")
    assert words in resp.json()["error"]["message"]
    assert client.get(f"/jobs/{job_id}").json()["status"] == "done"


def test_whole_numbers_and_round_tripped_scores_are_accepted(client: InProcessApi) -> None:
    job_id = _done_job(client)
    resp = _post(client, job_id, {"boxes": [{**FACE, "x": 100.0}]})
    assert resp.status_code == 202, resp.text


def test_unknown_and_malformed_ids_answer_404_alike(client: InProcessApi) -> None:
    answers = [
        _post(client, "A" * 32, {"boxes": []}),
        _post(client, "short", {"boxes": []}),
        client.get("/jobs/short"),
    ]
    assert {a.status_code for a in answers} == {404}
    assert len({a.text for a in answers}) == 1


def test_a_job_that_is_not_done_is_409(client: InProcessApi) -> None:
    created = client.post("/uploads", json=GOOD).json()
    resp = _post(client, created["id"], {"boxes": []})
    assert resp.status_code == 409 and resp.json()["error"]["code"] == "not_done"
    assert "awaiting_upload" in resp.json()["error"]["message"]


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"source.deleted": True}, "no longer kept"),
        ({"review_until": jobs.utcnow() - dt.timedelta(seconds=1)}, "review window"),
        ({"origin": "drop"}, "direct drops are not kept for review"),
    ],
)
def test_a_closed_review_is_410(client: InProcessApi, fields: dict[str, Any], words: str) -> None:
    job_id = _done_job(client, **fields)
    resp = _post(client, job_id, {"boxes": []})
    assert resp.status_code == 410, resp.text
    assert resp.json()["error"]["code"] == "review_closed"
    assert words in resp.json()["error"]["message"]


def test_an_open_window_is_shown(client: InProcessApi) -> None:
    until = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    job_id = _done_job(client, review_until=until)
    view = client.get(f"/jobs/{job_id}").json()
    assert view["review_until"] == "2030-01-02T03:04:05Z" and view["revision"] == 0
    assert _post(client, job_id, {"boxes": []}).status_code == 202


def test_an_erased_job_is_404(client: InProcessApi) -> None:
    job_id = _done_job(client)
    assert client.delete(f"/jobs/{job_id}").status_code == 204
    resp = _post(client, job_id, {"boxes": []})
    assert resp.status_code == 404 and resp.json()["error"]["message"] == "not found"


def test_only_post_is_allowed(client: InProcessApi) -> None:
    job_id = _done_job(client)
    resp = client.get(f"/jobs/{job_id}/revisions")
    assert resp.status_code == 405 and resp.headers["Allow"] == "POST, OPTIONS"
    assert client.request("OPTIONS", f"/jobs/{job_id}/revisions").status_code == 204


class BrokenPublisher(FakePublisher):
    """Pub/Sub refusing the publish, as a missing topic or an outage does."""

    def publish(self, topic: str, data: bytes, **attributes: str) -> Future[str]:
        failed: Future[str] = Future()
        failed.set_exception(TimeoutError("publish timed out"))
        return failed


def test_a_failed_publish_is_503_and_leaves_the_job_done(
    client: InProcessApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = _done_job(client)
    body = {"boxes": [{"x": 5, "y": 5, "w": 20, "h": 20}]}
    monkeypatch.setattr(client.clients, "publisher", BrokenPublisher())
    resp = _post(client, job_id, body)
    assert resp.status_code == 503 and resp.json()["error"]["code"] == "unavailable"
    # Not wedged: the job is done again with its result, and another set may be asked for.
    view = client.get(f"/jobs/{job_id}").json()
    assert view["status"] == "done" and view["revision"] == 0 and "result" in view
    monkeypatch.undo()
    retried = _post(client, job_id, body)
    assert retried.status_code == 202 and retried.json()["revision"] == 2
    assert _published(client)[-1] == {"id": job_id, "revision": 2}


def test_a_failed_revision_is_shown(client: InProcessApi) -> None:
    error = {"revision": 3, "code": "review_closed", "message": "gone"}
    job_id = _done_job(client, revision_error=error)
    assert client.get(f"/jobs/{job_id}").json()["revision_error"] == error


def test_a_job_without_a_face_operation_must_name_one(client: InProcessApi) -> None:
    created = client.post("/uploads", json={**GOOD, "ops": ["grayscale"]}).json()
    ref = client.clients.firestore.collection(jobs.COLLECTION).document(created["id"])
    ref.update({"status": "done", "generation": 3, "source.width": 64, "source.height": 64})
    resp = _post(client, created["id"], {"boxes": []})
    assert resp.status_code == 400 and "name one in op" in resp.json()["error"]["message"]
    named = _post(client, created["id"], {"boxes": [], "op": "redact_faces"})
    assert named.status_code == 202, named.text
    pending = ref.get().to_dict()[jobs.PENDING_REVISION]
    assert pending["op"] == "redact_faces"


def test_the_revision_replaces_the_jobs_face_operation() -> None:
    from gazokako.review import revision_key, revision_ops

    assert revision_ops(["grayscale", "mosaic_faces", "resize"], "blur_faces") == [
        "grayscale",
        "blur_faces",
        "resize",
    ]
    assert revision_ops(["blur_faces", "redact_faces"], "mosaic_faces") == ["mosaic_faces"]
    assert revision_ops(["grayscale"], "redact_faces") == ["redact_faces", "grayscale"]
    a, b = {"x": 1, "y": 2, "w": 3, "h": 4}, {"x": 5, "y": 6, "w": 7, "h": 8}
    assert revision_key([a, b], "mosaic_faces") == revision_key([b, a], "mosaic_faces")
    assert revision_key([a, b], "mosaic_faces") != revision_key([a, b], "blur_faces")
    assert revision_key([a], "mosaic_faces") != revision_key([a, a], "mosaic_faces")
