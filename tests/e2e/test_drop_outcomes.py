"""Direct drops on the running stack, as a user does them: `gcloud storage cp` into the storage
emulator, the result found by its name with `gcloud storage ls`, and the outcome message on
the jobs topic (docs/JOBS.md, "Direct bucket drops" and "Outcome messages")."""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage  # type: ignore[attr-defined]

from devstack.stack import Stack, client_env
from tests.support.corpus import skimage_image
from tests.support.topics import EmulatorTopic, Message


def gcloud_env(stack: dict[str, Any], config_dir: Path) -> dict[str, str]:
    """What points `gcloud` at the stack's emulators (the lines `make dev` prints:
    devstack.stack.client_env), with a configuration directory of its own so the user's gcloud
    settings play no part."""
    return {
        **os.environ,
        **client_env(stack),
        "CLOUDSDK_CONFIG": str(config_dir),
        "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
    }


def _gcloud(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(["gcloud", *args], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def jobs_topic(
    stack: dict[str, Any], stack_handle: Stack, monkeypatch: pytest.MonkeyPatch
) -> Iterator[EmulatorTopic]:
    """A subscription of this test's own on the stack's jobs topic, made before any drop."""
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", stack["pubsub"])
    topic = EmulatorTopic(stack["project"], stack["jobs_topic"])
    yield topic
    topic.close()


def _storage(stack: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> storage.Client:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", stack["storage"])
    return storage.Client(project=stack["project"], credentials=AnonymousCredentials())


def _about(name: str) -> Any:
    return lambda m: m.body.get("source", {}).get("name") == name


def test_gcloud_drop_gets_a_named_result_and_one_done_message(
    stack: dict[str, Any],
    jobs_topic: EmulatorTopic,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = gcloud_env(stack, tmp_path / "gcloud")
    folder = f"inbox/{secrets.token_hex(6)}"
    photo = tmp_path / "photo.jpg"
    img = cv2.imdecode(np.frombuffer(skimage_image("coffee.png"), np.uint8), cv2.IMREAD_COLOR)
    assert cv2.imwrite(str(photo), img)
    name = f"{folder}/photo.jpg"
    uploads, results = stack["uploads_bucket"], stack["results_bucket"]
    _gcloud(env, "storage", "cp", str(photo), f"gs://{uploads}/{name}",
            "--custom-metadata=ops=grayscale")  # fmt: skip

    found = jobs_topic.wait_for(_about(name))
    (message,) = [m for m in found if _about(name)(m)]
    body = message.body
    assert body["status"] == "done" and body["origin"] == "drop" and body["ops"] == ["grayscale"]
    assert body["result"]["bucket"] == results and body["result"]["name"] == f"{name}.jpg"
    assert (body["result"]["width"], body["result"]["height"]) == (600, 400)
    assert message.attributes == {
        "status": "done",
        "origin": "drop",
        "outcome_key": f"{body['id']}:{body['source']['generation']}:0",
    }

    listed = _gcloud(env, "storage", "ls", f"gs://{results}/{folder}/")
    assert listed.split() == [f"gs://{results}/{name}.jpg"]
    result = _storage(stack, monkeypatch).bucket(results).get_blob(f"{name}.jpg")
    assert result is not None and result.content_type == "image/jpeg"
    assert result.metadata == {
        "gazokako-job": body["id"],
        "gazokako-source-generation": str(body["source"]["generation"]),
        "gazokako-faces": "0",
    }
    out = cv2.imdecode(np.frombuffer(result.download_as_bytes(), np.uint8), cv2.IMREAD_UNCHANGED)
    assert out is not None and out.shape[:2] == (400, 600)
    # One message for this drop: no second one came before a marker published after it.
    assert [m for m in jobs_topic.drain() if _about(name)(m)] == []


def test_a_corrupt_drop_gets_one_failed_message(
    stack: dict[str, Any], jobs_topic: EmulatorTopic, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"inbox/{secrets.token_hex(6)}/broken.jpg"
    blob = _storage(stack, monkeypatch).bucket(stack["uploads_bucket"]).blob(name)
    blob.upload_from_string(b"\xff\xd8\xff\xe0 this is no jpeg", content_type="image/jpeg")
    found = jobs_topic.wait_for(_about(name))
    (message,) = [m for m in found if _about(name)(m)]
    assert message.attributes["status"] == "failed" == message.body["status"]
    assert message.body["error"]["code"] in {"corrupt", "truncated"}
    assert "result" not in message.body and message.body["faces"] is None
    results = _storage(stack, monkeypatch).bucket(stack["results_bucket"])
    assert results.get_blob(f"{name}.jpg") is None
    assert [m for m in jobs_topic.drain() if _about(name)(m)] == []


def test_a_drop_named_like_an_api_result_fails_with_reserved_name(
    stack: dict[str, Any], jobs_topic: EmulatorTopic, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"r/{secrets.token_hex(16)}/1"
    blob = _storage(stack, monkeypatch).bucket(stack["uploads_bucket"]).blob(name)
    blob.upload_from_string(skimage_image("coffee.png"), content_type="image/png")
    found: list[Message] = jobs_topic.wait_for(_about(name))
    (message,) = [m for m in found if _about(name)(m)]
    assert message.body["error"]["code"] == "reserved_name"
    assert [m for m in jobs_topic.drain() if _about(name)(m)] == []
