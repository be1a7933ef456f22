"""An in-memory Pub/Sub publisher: what `Clients.publisher` does, kept in a list to read back."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from dataclasses import dataclass


@dataclass(frozen=True)
class Published:
    topic: str
    data: bytes
    attributes: dict[str, str]
    message_id: str


class FakePublisher:
    """`google.cloud.pubsub_v1.PublisherClient.publish` and `topic_path`, in memory. Attributes
    must be strings and data bytes, as the real client insists."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.messages: list[Published] = []

    @staticmethod
    def topic_path(project: str, topic: str) -> str:
        return f"projects/{project}/topics/{topic}"

    def publish(self, topic: str, data: bytes, **attributes: str) -> Future[str]:
        if not isinstance(data, bytes):
            raise TypeError("data must be bytes")
        for key, value in attributes.items():
            if not isinstance(value, str):
                raise TypeError(f"attribute {key} must be a string")
        with self._lock:
            message_id = str(len(self.messages) + 1)
            self.messages.append(Published(topic, data, dict(attributes), message_id))
        done: Future[str] = Future()
        done.set_result(message_id)
        return done

    def on(self, topic: str) -> list[Published]:
        """The messages published to one topic path, oldest first."""
        with self._lock:
            return [m for m in self.messages if m.topic == topic]
