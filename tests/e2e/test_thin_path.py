"""The foundation path over real HTTP: API -> signed PUT -> storage event -> bridge ->
CloudEvent -> process function -> result -> signed GET. Everything runs on the emulators."""

from __future__ import annotations

import json
import os
import urllib.parse
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import requests
from google.cloud import pubsub_v1  # type: ignore[attr-defined]

from devstack.stack import TOPIC, Stack
from gazokako.ids import log_ref
from tests.support.api import upload_and_wait
from tests.support.corpus import skimage_image


def _decode(data: bytes) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert img is not None
    return img


def test_photo_comes_back_grayscale_and_same_size(stack: dict[str, Any]) -> None:
    photo = skimage_image("astronaut.png")
    original = _decode(photo)
    assert original.ndim == 3 and not np.array_equal(original[..., 0], original[..., 1])

    job = upload_and_wait(stack["upload_api"], photo, "image/png", ops=["grayscale"])

    assert job["status"] == "done", job
    assert job["ops"] == ["grayscale"]
    result = job["result"]
    assert result["url"].startswith(stack["storage"] + "/" + stack["results_bucket"] + "/")
    resp = requests.get(result["url"], timeout=30)
    assert resp.status_code == 200
    out = _decode(resp.content)
    assert out.shape[:2] == original.shape[:2]
    assert (result["width"], result["height"]) == (original.shape[1], original.shape[0])
    if out.ndim == 3:
        # A JPEG may keep three channels; gray means they agree (within codec rounding).
        assert int(np.abs(out[..., 0].astype(int) - out[..., 2].astype(int)).max()) <= 3
    assert len(resp.content) == result["bytes"]


def test_bridge_delivers_production_cloudevents(stack: dict[str, Any]) -> None:
    photo = skimage_image("coffee.png")
    job = upload_and_wait(stack["upload_api"], photo, "image/png", ops=["grayscale"])
    assert job["status"] == "done"
    lines = [
        json.loads(line)
        for line in (Path(stack["logs"]) / "bridge.log").read_text().splitlines()
        if line.startswith("{")
    ]
    deliveries = [e for e in lines if e.get("event") == "bridge.delivery"]
    # Lines name the job by its log reference, never by its id or object name.
    mine = [e for e in deliveries if e.get("job") == log_ref(job["id"])]
    assert mine, deliveries
    assert mine[-1]["ce_type"] == "google.cloud.storage.object.v1.finalized"
    assert mine[-1]["outcome"] == "ack" and mine[-1]["status"] in (200, 204)
    assert mine[-1]["severity"] == "INFO" and isinstance(mine[-1]["generation"], str)


def test_results_bucket_finalize_reaches_pubsub_for_downstream_systems(
    stack_handle: Stack,
) -> None:
    # docs/JOBS.md tells other systems to subscribe to the results bucket's finalize events;
    # locally those are the storage emulator's notifications on the shared topic, which the
    # bridge filters down to the uploads bucket. A subscriber of its own sees the rest.
    os.environ["PUBSUB_EMULATOR_HOST"] = stack_handle.pubsub_host
    try:
        subscriber = pubsub_v1.SubscriberClient()
    finally:
        os.environ.pop("PUBSUB_EMULATOR_HOST", None)
    sub = subscriber.subscription_path(stack_handle.project, "downstream-test")
    topic = f"projects/{stack_handle.project}/topics/{TOPIC}"
    subscriber.create_subscription(request={"name": sub, "topic": topic})

    urls = stack_handle.urls
    job = upload_and_wait(urls["upload_api"], skimage_image("coins.png"), "image/png")
    assert job["status"] == "done", job
    result_path = urllib.parse.urlsplit(job["result"]["url"]).path
    bucket, name = result_path.lstrip("/").split("/", 1)
    assert bucket == urls["results_bucket"]

    seen: list[dict[str, str]] = []
    for _ in range(30):  # the emulator publishes asynchronously; a few pulls are plenty
        pulled = subscriber.pull(request={"subscription": sub, "max_messages": 50}, timeout=10)
        seen += [dict(m.message.attributes) for m in pulled.received_messages]
        if any(a.get("bucketId") == bucket and a.get("objectId") == name for a in seen):
            break
    finals = [a for a in seen if a.get("bucketId") == bucket and a.get("objectId") == name]
    assert finals, seen
    assert finals[0]["eventType"] == "OBJECT_FINALIZE"
    assert name.startswith(f"r/{job['id']}/")  # the object name gives the job id
