"""What GET /jobs/{id} tells about the faces of a finished job, in-process on the fakes."""

from __future__ import annotations

import pytest

from gazokako import jobs
from tests.api.inprocess import InProcessApi

GOOD = {"filename": "p.jpg", "content_type": "image/jpeg", "size": 1000, "ops": ["mosaic_faces"]}
BOX = {"x": 10, "y": 20, "w": 30, "h": 40, "score": 0.9}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> InProcessApi:
    return InProcessApi(tmp_path_factory.mktemp("keys"))


def _finished_with_faces(client: InProcessApi, faces: dict[str, object]) -> dict[str, object]:
    created = client.post("/uploads", json=GOOD).json()
    ref = client.clients.firestore.collection(jobs.COLLECTION).document(created["id"])
    ref.update({"status": "done", "faces": faces})
    answer = client.get(created["status_url"])
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


def test_faces_redacted_unexamined_are_reported(client: InProcessApi) -> None:
    # The detection budget ran out: the client learns how many boxes were redacted unexamined.
    job = _finished_with_faces(client, {"count": 3, "boxes": [BOX] * 3, "unverified": 2})
    assert job["faces"] == {
        "count": 3,
        "boxes": [BOX] * 3,
        "unverified": 2,
        "reviewed": False,
    }


def test_a_record_from_before_the_budget_answers_without_it(client: InProcessApi) -> None:
    job = _finished_with_faces(client, {"count": 1, "boxes": [BOX]})
    assert job["faces"] == {"count": 1, "boxes": [BOX], "reviewed": False}
