"""Reading what went to a Pub/Sub topic, the same way on the fake publisher and the emulator.

`FakeTopic` reads FakePublisher's list; `EmulatorTopic` makes a subscription of its own on an
emulator topic (PUBSUB_EMULATOR_HOST must be set when it is built) and pulls. `drain()` returns
every message published since the last drain: on the emulator it publishes a marker of its own
and pulls until the marker comes back, so what was published before the call is all there.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Protocol

from google.api_core import exceptions as gexc
from google.cloud import pubsub_v1  # type: ignore[attr-defined]

from tests.fakes.pubsub import FakePublisher

_MARKER = "drain_marker"


@dataclass(frozen=True)
class Message:
    body: dict[str, Any]
    attributes: dict[str, str]


class TopicReader(Protocol):
    def drain(self) -> list[Message]: ...

    def close(self) -> None: ...


def _message(data: bytes, attributes: Any) -> Message:
    return Message(json.loads(data.decode()), dict(attributes))


class FakeTopic:
    def __init__(self, publisher: FakePublisher, topic_path: str) -> None:
        self._publisher, self._path, self._seen = publisher, topic_path, 0

    def drain(self) -> list[Message]:
        found = self._publisher.on(self._path)
        new, self._seen = found[self._seen :], len(found)
        return [_message(m.data, m.attributes) for m in new]

    def close(self) -> None:
        return None


class EmulatorTopic:
    """A subscription of its own on `topic_id` (created first if `create`), removed on close."""

    def __init__(self, project: str, topic_id: str, *, create: bool = False) -> None:
        self._publisher = pubsub_v1.PublisherClient()
        self._subscriber = pubsub_v1.SubscriberClient()
        self.topic = self._publisher.topic_path(project, topic_id)
        self._created = create
        if create:
            self._publisher.create_topic(request={"name": self.topic})
        self.subscription = self._subscriber.subscription_path(
            project, f"{topic_id}-reader-{secrets.token_hex(4)}"
        )
        self._subscriber.create_subscription(
            request={"name": self.subscription, "topic": self.topic, "ack_deadline_seconds": 60}
        )

    def _pull(self) -> list[tuple[bytes, dict[str, str]]]:
        response = self._subscriber.pull(
            request={"subscription": self.subscription, "max_messages": 100}, timeout=30
        )
        received = list(response.received_messages)
        if not received:
            # The emulator may answer an empty pull at once; pace the next one.
            time.sleep(0.05)
        else:
            self._subscriber.acknowledge(
                request={
                    "subscription": self.subscription,
                    "ack_ids": [r.ack_id for r in received],
                }
            )
        return [(r.message.data, dict(r.message.attributes)) for r in received]

    def drain(self, *, rounds: int = 200) -> list[Message]:
        marker = secrets.token_hex(8)
        self._publisher.publish(self.topic, b"{}", **{_MARKER: marker}).result(timeout=30)
        found: list[Message] = []
        for _ in range(rounds):
            for data, attributes in self._pull():
                if attributes.get(_MARKER) == marker:
                    return found
                if _MARKER not in attributes:
                    found.append(_message(data, attributes))
        raise AssertionError("the drain marker never came back")

    def wait_for(self, wanted: Callable[[Message], bool], *, rounds: int = 600) -> list[Message]:
        """Pull until a message `wanted` arrives; returns every message pulled so far."""
        found: list[Message] = []
        for _ in range(rounds):
            found += [_message(d, a) for d, a in self._pull() if _MARKER not in a]
            if any(wanted(m) for m in found):
                return found
        raise AssertionError("the wanted message never arrived")

    def close(self) -> None:
        with contextlib.suppress(gexc.NotFound):
            self._subscriber.delete_subscription(request={"subscription": self.subscription})
        self._subscriber.close()
        if self._created:
            with contextlib.suppress(gexc.NotFound):
                self._publisher.delete_topic(request={"topic": self.topic})


class FailingPublisher:
    """The real publisher, whose next `fail` publishes end in a 503 (the future raises)."""

    def __init__(self, real: Any, fail: int) -> None:
        self._real, self.fail = real, fail

    def publish(self, topic: str, data: bytes, **attributes: str) -> Future[str]:
        if self.fail > 0:
            self.fail -= 1
            failed: Future[str] = Future()
            failed.set_exception(gexc.ServiceUnavailable("injected 503 on publish"))
            return failed
        return self._real.publish(topic, data, **attributes)  # type: ignore[no-any-return]
