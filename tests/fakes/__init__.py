"""Named in-memory fakes of the cloud clients the services use (`Clients.storage`,
`Clients.firestore`, `Clients.publisher`), for the fast tier. Each honours the behaviour that
tests/fakes/test_contract.py checks against the emulators too, so a fake cannot drift from the
real thing unnoticed: extend the contract test with every behaviour a fake gains."""

from __future__ import annotations

from dataclasses import dataclass, field

from gazokako.config import Config
from tests.fakes.firestore import FakeFirestore
from tests.fakes.pubsub import FakePublisher, Published
from tests.fakes.storage import FakeStorage


@dataclass
class FakeClients:
    """`gazokako.clients.Clients` with both clients in memory."""

    config: Config
    storage: FakeStorage = field(default_factory=FakeStorage)
    firestore: FakeFirestore = field(default_factory=FakeFirestore)
    publisher: FakePublisher = field(default_factory=FakePublisher)

    def topic_path(self, topic_id: str) -> str:
        return f"projects/{self.config.project}/topics/{topic_id}"


__all__ = ["FakeClients", "FakeFirestore", "FakePublisher", "FakeStorage", "Published"]
