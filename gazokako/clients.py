"""The one wiring place: cloud clients are made lazily here and handed to the services.

The client libraries find the emulators through STORAGE_EMULATOR_HOST and
FIRESTORE_EMULATOR_HOST, so the same code runs locally and in production; tests can build a
`Clients` of their own and pass it in.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from google.auth.credentials import AnonymousCredentials
from google.cloud import firestore, storage  # type: ignore[attr-defined]

from gazokako.config import Config

if TYPE_CHECKING:
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]


@dataclass
class Clients:
    config: Config
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @cached_property
    def storage(self) -> storage.Client:
        with self._lock:
            if os.environ.get("STORAGE_EMULATOR_HOST"):
                anonymous = AnonymousCredentials()  # type: ignore[no-untyped-call]
                return storage.Client(project=self.config.project, credentials=anonymous)
            return storage.Client(project=self.config.project)

    @cached_property
    def firestore(self) -> firestore.Client:
        with self._lock:
            return firestore.Client(project=self.config.project)

    @cached_property
    def publisher(self) -> pubsub_v1.PublisherClient:
        """Pub/Sub publisher; finds the emulator through PUBSUB_EMULATOR_HOST. Imported here so
        an instance that never publishes does not pay for the import."""
        from google.cloud import pubsub_v1  # type: ignore[attr-defined]  # noqa: PLC0415

        with self._lock:
            return pubsub_v1.PublisherClient()

    def topic_path(self, topic_id: str) -> str:
        return f"projects/{self.config.project}/topics/{topic_id}"


_clients: Clients | None = None
_clients_lock = threading.Lock()


def default_clients() -> Clients:
    """Clients built from the environment on first use, then reused for the instance's life."""
    global _clients  # noqa: PLW0603 - one set of clients per function instance is the point
    with _clients_lock:
        if _clients is None:
            _clients = Clients(Config.from_env())
        return _clients
