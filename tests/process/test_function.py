"""The deployed entry point in-process: real binary-mode CloudEvents through the functions
framework's own app, answering 2xx (ack) or 500 (redeliver) as Eventarc sees it."""

from __future__ import annotations

import json
import secrets
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import functions_framework
import pytest
from werkzeug.test import TestResponse

import gazokako.clients
from gazokako.events import cloudevent_headers
from gazokako.ids import source_object_name
from gazokako.processing import ProcessService
from tests.fakes import FakeClients
from tests.process.conftest import World
from tests.process.test_service import FlakyStorage
from tests.support.corpus import skimage_image

SOURCE = Path(__file__).resolve().parents[2] / "functions" / "process" / "main.py"


class Function:
    def __init__(self, world: World) -> None:
        app = functions_framework.create_app(
            target="process_upload", source=str(SOURCE), signature_type="cloudevent"
        )
        self.client = app.test_client()
        self.module: Any = sys.modules["main"]

    def send(self, data: dict[str, Any], **headers: str) -> TestResponse:
        ce = cloudevent_headers(secrets.token_hex(8), datetime.now(UTC), data)
        ce.update(headers)
        return self.client.post("/", data=json.dumps(data), headers=ce)


@pytest.fixture
def function(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], Function]]:
    cfg = world.config
    monkeypatch.setenv("PROJECT_ID", cfg.project)
    monkeypatch.setenv("UPLOADS_BUCKET", cfg.uploads_bucket)
    monkeypatch.setenv("RESULTS_BUCKET", cfg.results_bucket)
    monkeypatch.setenv("DEFAULT_OPS", "grayscale")
    # On the emulators the function builds its clients from this environment on its first
    # event; on the fakes it finds the world's clients already made.
    fake = isinstance(world.clients, FakeClients)
    monkeypatch.setattr(gazokako.clients, "_clients", world.clients if fake else None)
    yield lambda: Function(world)
    sys.modules.pop("main", None)


def test_finalized_event_is_processed_and_acked(
    world: World, function: Callable[[], Function]
) -> None:
    job_id = world.new_api_job(["grayscale"])
    resp = function().send(world.put(source_object_name(job_id), skimage_image("coffee.png")))
    assert 200 <= resp.status_code < 300, resp.text
    assert world.job(job_id)["status"] == "done"


def test_permanent_error_is_acked_with_a_failed_job(
    world: World, function: Callable[[], Function]
) -> None:
    job_id = world.new_api_job(["grayscale"])
    resp = function().send(world.put(source_object_name(job_id), b"GIF89a not really", "image/gif"))
    assert 200 <= resp.status_code < 300
    job = world.job(job_id)
    assert job["status"] == "failed" and job["error"]["code"] == "unsupported_format"


def test_transient_error_answers_500_so_the_event_comes_back(
    world: World, function: Callable[[], Function]
) -> None:
    job_id = world.new_api_job(["grayscale"])
    data = world.put(source_object_name(job_id), skimage_image("coffee.png"))
    fn = function()
    fn.module._service = ProcessService(world.clients)
    flaky = FlakyStorage(world.clients.storage, fail_download=1)
    world.clients.__dict__["storage"] = flaky
    first = fn.send(data)
    assert first.status_code == 500 and flaky.fail["download"] == 0
    assert world.job(job_id)["status"] == "processing"
    again = fn.send(data)  # the redelivery
    assert 200 <= again.status_code < 300
    assert world.job(job_id)["status"] == "done"


def test_other_event_types_and_buckets_are_acked_and_ignored(
    world: World, function: Callable[[], Function]
) -> None:
    fn = function()
    job_id = world.new_api_job(["grayscale"])
    data = world.put(source_object_name(job_id), skimage_image("coffee.png"))
    deleted = fn.send(data, **{"ce-type": "google.cloud.storage.object.v1.deleted"})
    assert 200 <= deleted.status_code < 300
    assert world.job(job_id)["status"] == "awaiting_upload"
    other = fn.send({**data, "bucket": world.config.results_bucket})
    assert 200 <= other.status_code < 300
    assert world.job(job_id)["status"] == "awaiting_upload"


def test_the_sweep_entry_point_closes_the_windows_that_ended(
    world: World, function: Callable[[], Function]
) -> None:
    """`sweep_reviews`, as Cloud Scheduler's tick reaches it (a Pub/Sub message through
    Eventarc): one run over the jobs whose review window closed. DELETE_ORIGINALS is off here,
    so the window closes and the source stays for the lifecycle rule (tests/process/test_sweep.py
    has the deletions)."""
    function()  # the environment and clients, as for process_upload
    app = functions_framework.create_app(
        target="sweep_reviews", source=str(SOURCE), signature_type="cloudevent"
    )
    job_id = world.new_api_job(["grayscale"])
    data = world.put(source_object_name(job_id), skimage_image("coffee.png"))
    world.deliver(data)
    assert world.job(job_id)["review_until"] > datetime.now(UTC)
    world.store.update(job_id, {"review_until": datetime.now(UTC) - timedelta(seconds=1)})
    tick = {"message": {"data": "", "messageId": "1"}, "subscription": "projects/p/subscriptions/s"}
    resp = app.test_client().post(
        "/",
        data=json.dumps(tick),
        headers={
            "ce-specversion": "1.0",
            "ce-id": secrets.token_hex(8),
            "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
            "ce-source": "//pubsub.googleapis.com/projects/p/topics/gazokako-sweep",
            "Content-Type": "application/json",
        },
    )
    assert 200 <= resp.status_code < 300, resp.text
    job = world.job(job_id)
    assert "review_until" not in job and job["source"]["deleted"] is False
    assert world.clients.storage.bucket(data["bucket"]).get_blob(data["name"]) is not None
