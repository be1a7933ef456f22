"""A review through the whole local stack: API -> upload -> automatic result -> POST a revision
-> Pub/Sub (REVISIONS_TOPIC) -> the Pub/Sub bridge -> process_revision -> the corrected result,
rendered from the source. Everything runs on the emulators."""

from __future__ import annotations

import json
import time
from typing import Any

import cv2
import numpy as np
import pytest
import requests
from google.cloud import pubsub_v1  # type: ignore[attr-defined]

from devstack.stack import Stack
from gazokako.ids import results_prefix
from tests.support.api import upload_and_wait, wait_for_job
from tests.support.corpus import skimage_image

# astronaut.png (512 x 512): the lower left corner is her suit and the background, no face.
FREE_AREA = {"x": 16, "y": 400, "w": 96, "h": 96}
# Mean absolute difference from the source over a box (0-255). JPEG (quality 85) alone leaves
# about 3.5 over the face and the free area; the mosaic about 18 (free area) to 30 (face).
SHOWN = 8
HIDDEN = 12


def _pixels(data: bytes) -> np.ndarray[Any, Any]:
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None
    return img.astype(int)


def _crop(img: np.ndarray[Any, Any], box: dict[str, int]) -> np.ndarray[Any, Any]:
    return img[box["y"] : box["y"] + box["h"], box["x"] : box["x"] + box["w"]]


def _difference(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any], box: dict[str, int]) -> float:
    """Mean absolute difference of two images over a box (0-255)."""
    return float(np.abs(_crop(a, box) - _crop(b, box)).mean())


def _download(job: dict[str, Any]) -> np.ndarray[Any, Any]:
    resp = requests.get(job["result"]["url"], timeout=30)
    assert resp.status_code == 200
    return _pixels(resp.content)


def _bridge_stats(stack: dict[str, Any]) -> dict[str, int]:
    return dict(requests.get(stack["review_bridge"], timeout=10).json())


def test_a_person_adds_a_missed_face_and_releases_a_false_one(
    stack: dict[str, Any], stack_handle: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = stack["upload_api"]
    photo = skimage_image("astronaut.png")
    source = _pixels(photo)
    job = upload_and_wait(api, photo, "image/png", ops=["mosaic_faces"])
    assert job["status"] == "done" and job["faces"]["count"] >= 1, job
    assert job["revision"] == 0 and job["faces"]["reviewed"] is False
    face = {k: job["faces"]["boxes"][0][k] for k in ("x", "y", "w", "h")}
    automatic = _download(job)
    assert _difference(automatic, source, face) > HIDDEN  # the face is hidden
    assert _difference(automatic, source, FREE_AREA) < SHOWN  # the free area is not

    # Release the detected face (it is a "false" one here) and add a box the detector "missed".
    url = f"{api}/jobs/{job['id']}/revisions"
    body = {"boxes": [FREE_AREA]}
    resp = requests.post(url, json=body, timeout=30)
    assert resp.status_code == 202, resp.text
    assert resp.json()["status"] == "processing" and resp.json()["revision"] == 1

    reviewed = wait_for_job(f"{api}/jobs/{job['id']}")
    assert reviewed["status"] == "done" and reviewed["revision"] == 1, reviewed
    assert reviewed["faces"]["reviewed"] is True
    assert reviewed["faces"]["boxes"] == [{**FREE_AREA, "score": 1.0}]
    out = _download(reviewed)
    # Rendered from the source: the released face has its real pixels back (within JPEG
    # loss), and the new box is pixelated.
    assert _difference(out, source, face) < SHOWN
    assert _difference(out, source, FREE_AREA) > HIDDEN

    # The same POST again is the same revision.
    again = requests.post(url, json={"boxes": [dict(FREE_AREA)]}, timeout=30)
    assert again.status_code == 202 and again.json()["revision"] == 1
    assert again.json()["status"] == "done"

    # A duplicate revision event (Pub/Sub delivers at least once) makes no second outcome.
    before = _bridge_stats(stack)
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", stack_handle.pubsub_host)
    publisher = pubsub_v1.PublisherClient()
    message = json.dumps({"id": job["id"], "revision": 1}).encode()
    publisher.publish(stack_handle.revisions_topic_path, message).result(timeout=30)
    deadline = time.monotonic() + 60
    while _bridge_stats(stack)["acked"] <= before["acked"] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _bridge_stats(stack)["acked"] > before["acked"]
    after = requests.get(f"{api}/jobs/{job['id']}", timeout=30).json()
    assert after["revision"] == 1 and after["updated_at"] == reviewed["updated_at"]
    assert after["result"]["bytes"] == reviewed["result"]["bytes"]
    # One result object: the automatic one went once the revision was recorded.
    listed = requests.get(
        f"{stack['storage']}/storage/v1/b/{stack['results_bucket']}/o",
        params={"prefix": results_prefix(job["id"])},
        timeout=10,
    ).json()
    names = [item["name"] for item in listed.get("items", [])]
    assert len(names) == 1 and names[0].endswith(".r1.jpg"), names
