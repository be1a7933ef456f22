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

from google.auth.credentials import AnonymousCredentials
from google.cloud import firestore, storage  # type: ignore[attr-defined]

from gazokako.config import Config


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


_clients: Clients | None = None
_clients_lock = threading.Lock()


def default_clients() -> Clients:
    """Clients built from the environment on first use, then reused for the instance's life."""
    global _clients  # noqa: PLW0603 - one set of clients per function instance is the point
    with _clients_lock:
        if _clients is None:
            _clients = Clients(Config.from_env())
        return _clients
