"""POST /jobs/{id}/revisions over HTTP against the running upload function on the emulators:
the answer's shape, CORS for the page, and a publish that Pub/Sub refuses (a topic that does not
exist) answering 503 without leaving the job pending."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from devstack.stack import Stack
from tests.api.instance import start_upload_function
from tests.support.api import upload_and_wait, wait_for_job
from tests.support.corpus import skimage_image

BOX = {"x": 20, "y": 30, "w": 64, "h": 48}


@pytest.fixture(scope="module")
def no_topic_api(stack_handle: Stack) -> Iterator[str]:
    """An upload function whose REVISIONS_TOPIC names a topic that does not exist."""
    proc, url = start_upload_function(
        stack_handle, "upload-no-topic", {"REVISIONS_TOPIC": "no-such-topic"}, threads=2
    )
    try:
        yield url
    finally:
        proc.stop()


def test_a_refused_publish_is_503_and_the_job_stays_done(
    api: str, stack: dict[str, Any], no_topic_api: str
) -> None:
    photo = skimage_image("coffee.png")
    job = upload_and_wait(api, photo, "image/png", ops=["grayscale"])
    assert job["status"] == "done" and job["revision"] == 0
    body = {"boxes": [BOX], "op": "blur_faces"}
    refused = requests.post(f"{no_topic_api}/jobs/{job['id']}/revisions", json=body, timeout=60)
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"]["code"] == "unavailable"
    after = requests.get(f"{api}/jobs/{job['id']}", timeout=30).json()
    assert after["status"] == "done" and after["revision"] == 0 and "result" in after

    # The same request to a working instance goes through, with the page's origin allowed.
    origin = str(stack["web"]).rstrip("/")
    accepted = requests.post(
        f"{api}/jobs/{job['id']}/revisions", json=body, headers={"Origin": origin}, timeout=30
    )
    assert accepted.status_code == 202, accepted.text
    assert accepted.headers["Access-Control-Allow-Origin"] == origin
    assert accepted.headers["Cache-Control"] == "no-store"
    view = accepted.json()
    assert view["status"] == "processing" and view["revision"] == 2  # 1 was withdrawn
    done = wait_for_job(f"{api}/jobs/{job['id']}")
    assert done["status"] == "done" and done["revision"] == 2
    assert done["faces"] == {
        "count": 1,
        "boxes": [{**BOX, "score": 1.0}],
        "unverified": 0,
        "reviewed": True,
    }
    assert (done["result"]["width"], done["result"]["height"]) == (600, 400)
