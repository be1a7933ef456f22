"""The local Eventarc bridge against the real Pub/Sub emulator: event shape, ack, nack, retry.

The receiving end here is a small HTTP server standing in for the process function (a fake, named
so): it is the only way to make a function answer 500 exactly once on demand.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from google.cloud import pubsub_v1  # type: ignore[attr-defined]

from devstack.procs import ManagedProcess, free_port, http_answers
from devstack.stack import ROOT, Stack


class FakeProcessFunction:
    """Records every delivery; answers 500 to the first `fail_first` of them."""

    def __init__(self, fail_first: int, port: int = 0) -> None:
        self.fail_first = fail_first
        self.deliveries: list[tuple[dict[str, str], dict[str, Any], int]] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with outer.lock:
                    status = 500 if len(outer.deliveries) < outer.fail_first else 204
                    outer.deliveries.append(
                        ({k.lower(): v for k, v in self.headers.items()}, body, status)
                    )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@contextlib.contextmanager
def bridge_on_new_topic(
    stack_handle: Stack,
    name: str,
    target: str,
    log_dir: Path,
    *,
    kind: str = "storage",
    extra: tuple[str, ...] = (),
) -> Iterator[tuple[Callable[..., str], int]]:
    """A bridge of its own on a fresh topic of the session's Pub/Sub emulator.

    Yields a publish(data, **attributes) function and the bridge's status port.
    """
    os.environ["PUBSUB_EMULATOR_HOST"] = stack_handle.pubsub_host
    try:
        publisher = pubsub_v1.PublisherClient()
        subscriber = pubsub_v1.SubscriberClient()
    finally:
        os.environ.pop("PUBSUB_EMULATOR_HOST", None)
    topic = publisher.topic_path(stack_handle.project, name)
    sub = subscriber.subscription_path(stack_handle.project, name)
    publisher.create_topic(request={"name": topic})
    subscriber.create_subscription(request={"name": sub, "topic": topic})
    status_port = free_port()
    bridge = ManagedProcess(
        name,
        [sys.executable, "-m", "devstack.bridge", "--subscription", sub, "--target", target,
         "--bucket", "uploads-x", "--status-port", str(status_port), "--min-backoff", "1",
         "--kind", kind, *(["--topic", topic] if kind == "pubsub" else []), *extra],
        env={**os.environ, "PUBSUB_EMULATOR_HOST": stack_handle.pubsub_host,
             "PYTHONPATH": str(ROOT)},
        log_dir=log_dir,
    )  # fmt: skip
    bridge.start()
    try:
        bridge.wait_until(lambda: http_answers(f"http://127.0.0.1:{status_port}/"))
        yield (lambda data, **attrs: publisher.publish(topic, data, **attrs).result()), status_port
    finally:
        bridge.stop()


@pytest.fixture
def bridge_setup(stack_handle: Stack, tmp_path: Path) -> Iterator[tuple[Any, FakeProcessFunction]]:
    fake = FakeProcessFunction(fail_first=1)
    try:
        with bridge_on_new_topic(stack_handle, "bridge-test", fake.url, tmp_path) as (publish, _):
            yield (lambda data, attrs: publish(data, **attrs)), fake
    finally:
        fake.server.shutdown()


def _wait_for(predicate: Any, give_up_after: float = 60.0) -> None:
    deadline = time.monotonic() + give_up_after
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.1)


def test_failed_delivery_is_redelivered_then_acked(bridge_setup: Any) -> None:
    publish, fake = bridge_setup
    obj = {
        "kind": "storage#object",
        "bucket": "uploads-x",
        "name": "u/abc/source",
        "generation": 1732832936756275,
        "metageneration": 1,
        "size": 12345,
        "contentType": "image/jpeg",
        "timeCreated": "2026-01-01T00:00:00Z",
    }
    attrs = {
        "eventType": "OBJECT_FINALIZE",
        "bucketId": "uploads-x",
        "objectId": "u/abc/source",
        "objectGeneration": "1732832936756275",
        "payloadFormat": "JSON_API_V1",
    }
    # An event of another bucket is never delivered (the trigger's bucket filter).
    publish(json.dumps({**obj, "bucket": "results-x"}).encode(), {**attrs, "bucketId": "results-x"})
    message_id = publish(json.dumps(obj).encode(), attrs)

    _wait_for(lambda: len(fake.deliveries) >= 2)
    time.sleep(2.0)  # room for a wrong extra delivery to show up
    assert [status for _, _, status in fake.deliveries] == [500, 204]
    first, second = fake.deliveries[0][0], fake.deliveries[1][0]
    assert first["ce-id"] == second["ce-id"] == message_id
    assert first["ce-specversion"] == "1.0"
    assert first["ce-type"] == "google.cloud.storage.object.v1.finalized"
    assert first["ce-source"] == "//storage.googleapis.com/projects/_/buckets/uploads-x"
    assert first["ce-subject"] == "objects/u/abc/source"
    assert first["ce-time"].endswith("Z")
    assert first["content-type"] == "application/json"
    body = fake.deliveries[1][1]
    # int64 fields arrive as JSON strings, as Eventarc sends them.
    assert body["generation"] == "1732832936756275"
    assert body["size"] == "12345"
    assert body["name"] == "u/abc/source"


def test_unreachable_function_gets_one_probe_at_a_time_not_a_storm(
    stack_handle: Stack, tmp_path: Path
) -> None:
    target_port = free_port()
    target = f"http://127.0.0.1:{target_port}/"
    fake: FakeProcessFunction | None = None
    with bridge_on_new_topic(stack_handle, "bridge-down", target, tmp_path) as (publish, status):
        try:
            messages = 40
            for i in range(messages):
                obj = {"bucket": "uploads-x", "name": f"inbox/{i}.jpg", "generation": i + 1}
                publish(json.dumps(obj).encode(), eventType="OBJECT_FINALIZE",
                        bucketId="uploads-x", objectId=obj["name"])  # fmt: skip
            time.sleep(3.0)  # the function is down all this time
            stats = requests.get(f"http://127.0.0.1:{status}/", timeout=5).json()
            # Without the shared pause every message would have failed at least once by now.
            assert 1 <= stats["unreachable"] < messages // 2, stats
            fake = receiver = FakeProcessFunction(fail_first=0, port=target_port)

            def delivered() -> set[str]:
                return {headers["ce-id"] for headers, _, _ in receiver.deliveries}

            _wait_for(lambda: len(delivered()) >= messages)
            assert len(delivered()) == messages
        finally:
            if fake is not None:
                fake.server.shutdown()


def test_a_pubsub_trigger_delivers_messagepublished_events(
    stack_handle: Stack, tmp_path: Path
) -> None:
    """`--kind pubsub`: every message becomes the CloudEvent of an Eventarc Pub/Sub trigger
    (the review function's trigger on REVISIONS_TOPIC), redelivered after a 500."""
    fake = FakeProcessFunction(fail_first=1)
    try:
        with bridge_on_new_topic(
            stack_handle, "bridge-pubsub", fake.url, tmp_path, kind="pubsub"
        ) as (publish, _):
            payload = json.dumps({"id": "A" * 32, "revision": 2}).encode()
            message_id = publish(payload, origin="test")
            _wait_for(lambda: len(fake.deliveries) >= 2)
            time.sleep(2.0)  # room for a wrong extra delivery to show up
    finally:
        fake.server.shutdown()
    assert [status for _, _, status in fake.deliveries] == [500, 204]
    headers, body, _ = fake.deliveries[1]
    assert headers["ce-id"] == message_id and headers["ce-specversion"] == "1.0"
    assert headers["ce-type"] == "google.cloud.pubsub.topic.v1.messagePublished"
    topic = f"projects/{stack_handle.project}/topics/bridge-pubsub"
    assert headers["ce-source"] == f"//pubsub.googleapis.com/{topic}"
    assert headers["ce-time"].endswith("Z")
    message = body["message"]
    assert base64.b64decode(message["data"]) == payload
    assert message["attributes"] == {"origin": "test"}
    assert message["messageId"] == message_id and message["publishTime"].endswith("Z")
    assert body["subscription"] == f"projects/{stack_handle.project}/subscriptions/bridge-pubsub"


def test_the_pubsub_trigger_keeps_the_fault_injection(stack_handle: Stack, tmp_path: Path) -> None:
    """`--duplicate-rate 1`: every revision message is delivered twice, as at-least-once
    delivery may (the fault tests' flags work on both kinds of bridge)."""
    fake = FakeProcessFunction(fail_first=0)
    try:
        with bridge_on_new_topic(
            stack_handle,
            "bridge-pubsub-dup",
            fake.url,
            tmp_path,
            kind="pubsub",
            extra=("--duplicate-rate", "1", "--seed", "1"),
        ) as (publish, status):
            message_id = publish(json.dumps({"id": "B" * 32, "revision": 1}).encode())
            _wait_for(lambda: len(fake.deliveries) >= 2)
            stats = requests.get(f"http://127.0.0.1:{status}/", timeout=5).json()
    finally:
        fake.server.shutdown()
    assert [h["ce-id"] for h, _, _ in fake.deliveries] == [message_id, message_id]
    assert stats["duplicated"] == 1
