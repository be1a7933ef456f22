"""The outcome topic (JOBS_TOPIC, gazokako/outcomes.py): exactly one message per terminal
outcome of each generation, its schema, and the at-least-once rule, on the fake publisher and
on the Pub/Sub emulator (a topic and subscription of each test's own)."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from google.cloud import firestore

from gazokako import jobs, outcomes
from gazokako.errors import TransientError
from gazokako.ids import new_job_id, source_object_name
from tests.fakes import FakeClients
from tests.process.conftest import World
from tests.support.corpus import skimage_image
from tests.support.topics import FailingPublisher, Message, TopicReader

BODY_KEYS = {"id", "key", "status", "origin", "ops", "source", "faces", "revision"}
ATTRIBUTES = {"status", "origin", "outcome_key"}


def _png(name: str = "coffee.png") -> bytes:
    return skimage_image(name)


@pytest.fixture
def topic_world(
    make_topic_world: Callable[..., tuple[World, TopicReader]],
) -> tuple[World, TopicReader]:
    return make_topic_world()


def _check_schema(message: Message, job_id: str, job: dict[str, Any]) -> None:
    body, attributes = message.body, message.attributes
    status = job["status"]
    key = f"{job_id}:{job['generation']}:0"
    assert set(body) == BODY_KEYS | ({"result"} if status == "done" else {"error"})
    assert set(attributes) == ATTRIBUTES
    assert attributes == {"status": status, "origin": job["origin"], "outcome_key": key}
    assert body["id"] == job_id and body["key"] == key and body["revision"] == 0
    assert body["status"] == status and body["origin"] == job["origin"]
    assert body["ops"] == job["ops"]
    assert body["source"] == {
        "bucket": job["source"]["bucket"],
        "name": job["source"]["name"],
        "generation": job["generation"],
    }
    if status == "done":
        result = job["result"]
        assert body["result"] == {
            "bucket": result["bucket"],
            "name": result["name"],
            "content_type": result["content_type"],
            "width": result["width"],
            "height": result["height"],
        }
        assert body["faces"] == job["faces"]["count"]
    else:
        assert body["error"] == job["error"] and body["faces"] is None
    # No secret: nothing signed, no URL at all.
    flat = str(body)
    assert "http" not in flat and "Signature" not in flat
    # The record says which outcome is on the topic.
    assert job[jobs.OUTCOME_PUBLISHED] == key and jobs.OUTCOME_LEASE not in job


def test_done_job_publishes_one_message_with_the_schema(
    topic_world: tuple[World, TopicReader],
) -> None:
    world, topic = topic_world
    job_id = world.new_api_job(["grayscale"])
    world.deliver(world.put(source_object_name(job_id), _png()))
    (message,) = topic.drain()
    job = world.job(job_id)
    assert job["status"] == "done"
    _check_schema(message, job_id, job)
    assert message.body["result"]["content_type"] == "image/jpeg"
    assert (message.body["result"]["width"], message.body["result"]["height"]) == (600, 400)


def test_failed_drop_publishes_one_failed_message(topic_world: tuple[World, TopicReader]) -> None:
    world, topic = topic_world
    name = f"inbox/{new_job_id()}.jpg"
    world.deliver(world.put(name, b"\xff\xd8\xff\xe0 not really a jpeg", "image/jpeg"))
    (message,) = topic.drain()
    (job,) = world.drop_jobs(name)
    assert job["status"] == "failed"
    _check_schema(message, job["id"], job)
    assert message.attributes["origin"] == "drop" and message.body["source"]["name"] == name
    assert message.body["error"]["code"] in {"corrupt", "truncated"}


def test_duplicate_and_late_events_still_give_one_message_per_generation(
    topic_world: tuple[World, TopicReader],
) -> None:
    world, topic = topic_world
    job_id = world.new_api_job(["grayscale"])
    first = world.put(source_object_name(job_id), _png("coffee.png"))
    world.deliver(first)
    world.deliver(first)
    second = world.put(source_object_name(job_id), _png("chelsea.png"))
    n = 4
    gate = threading.Barrier(n)

    def one() -> None:
        gate.wait()
        for _ in range(50):
            try:
                world.deliver(second)
            except TransientError:
                time.sleep(0.01)  # busy: another delivery holds the claim
                continue
            return

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    world.deliver(first)  # late: an older generation
    world.deliver(second)
    found = topic.drain()
    keys = sorted(m.attributes["outcome_key"] for m in found)
    assert keys == sorted(f"{job_id}:{d['generation']}:0" for d in (first, second))
    assert all(m.body["status"] == "done" for m in found)


def test_drop_generations_each_publish_once(topic_world: tuple[World, TopicReader]) -> None:
    world, topic = topic_world
    name = f"inbox/{new_job_id()}.png"
    first = world.put(name, _png("coffee.png"), metadata={"ops": "grayscale"})
    world.deliver(first)
    second = world.put(name, _png("chelsea.png"), metadata={"ops": "grayscale"})
    for data in (second, first, second, first):
        world.deliver(data)
    found = topic.drain()
    by_job = {j["id"]: j for j in world.drop_jobs(name)}
    assert len(found) == len(by_job) == 2
    assert {m.body["id"] for m in found} == set(by_job)
    for message in found:
        _check_schema(message, message.body["id"], by_job[message.body["id"]])


def test_a_failed_publish_is_transient_and_the_redelivery_publishes(
    topic_world: tuple[World, TopicReader],
) -> None:
    world, topic = topic_world
    job_id = world.new_api_job(["grayscale"])
    data = world.put(source_object_name(job_id), _png())
    failing = FailingPublisher(world.clients.publisher, fail=1)
    world.clients.__dict__["publisher"] = failing  # the cached client, swapped for the wrapper
    with pytest.raises(TransientError):
        world.deliver(data)
    assert failing.fail == 0  # the injected fault was hit
    job = world.job(job_id)
    # The record is final; only the mark is missing, so the redelivery publishes.
    assert job["status"] == "done" and jobs.OUTCOME_PUBLISHED not in job
    assert topic.drain() == []
    world.deliver(data)
    (message,) = topic.drain()
    _check_schema(message, job_id, world.job(job_id))
    world.deliver(data)  # marked now: a further duplicate publishes nothing
    assert topic.drain() == []


def test_a_crash_between_publish_and_mark_republishes_with_the_same_key(
    topic_world: tuple[World, TopicReader],
) -> None:
    """At-least-once: the same outcome twice, both with one key a consumer deduplicates on."""
    world, topic = topic_world
    name = f"inbox/{new_job_id()}.png"
    data = world.put(name, _png(), metadata={"ops": "grayscale"})
    world.deliver(data)
    (job,) = world.drop_jobs(name)
    # What a crash right after the publish leaves: the record without its mark.
    world.store.update(job["id"], {jobs.OUTCOME_PUBLISHED: firestore.DELETE_FIELD})
    world.deliver(data)
    first, again = topic.drain()
    assert first == again
    assert first.attributes["outcome_key"] == f"{job['id']}:{data['generation']}:0"


def test_attempts_exhausted_publishes_the_failed_outcome(
    topic_world: tuple[World, TopicReader],
) -> None:
    base, topic = topic_world
    world = base.with_config(max_attempts=2)
    if isinstance(base.clients, FakeClients):
        world.clients.publisher = base.clients.publisher  # the fake topic the reader reads
    job_id = world.new_api_job(["grayscale"])
    data = world.put(source_object_name(job_id), _png())
    gen = int(data["generation"])
    for _ in range(2):  # two instances died holding it
        world.store.claim(job_id, gen, lease_seconds=300)
        world.store.update(job_id, {"lease_until": jobs.utcnow() - dt.timedelta(seconds=1)})
    world.deliver(data)
    (message,) = topic.drain()
    job = world.job(job_id)
    assert job["error"]["code"] == "too_many_attempts"
    _check_schema(message, job_id, job)


def test_no_topic_publishes_nothing(world: World) -> None:
    assert world.config.jobs_topic is None
    job_id = world.new_api_job(["grayscale"])
    world.deliver(world.put(source_object_name(job_id), _png()))
    job = world.job(job_id)
    assert job["status"] == "done" and jobs.OUTCOME_PUBLISHED not in job
    publisher = world.clients.__dict__.get("publisher")
    # The fake records nothing; the real client is never even built.
    assert publisher is None or publisher.messages == []


def test_outcome_message_needs_a_final_record() -> None:
    with pytest.raises(ValueError, match="terminal"):
        outcomes.outcome_message("x", {"status": "processing", "generation": 1})
    assert outcomes.outcome_key("abc", 17, 2) == "abc:17:2"
