"""An in-memory `google.cloud.firestore.Client`: documents by path, with the calls JobStore
makes outside transactions (create, get, update, delete).

Transactions (`JobStore.claim`, `finish`, `create_drop_job`) are not faked: they run through
`firestore.transactional`, which drives the client's RPCs directly, so the process service's
tests stay on the emulator.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Mapping
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore


class FakeFirestore:
    def __init__(self) -> None:
        self._docs: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def collection(self, name: str) -> FakeCollection:
        return FakeCollection(self, name)


class FakeCollection:
    def __init__(self, db: FakeFirestore, name: str) -> None:
        self._db = db
        self.id = name

    def document(self, doc_id: str) -> FakeDocument:
        return FakeDocument(self._db, f"{self.id}/{doc_id}", doc_id)


class FakeSnapshot:
    def __init__(self, doc_id: str, data: dict[str, Any] | None) -> None:
        self.id = doc_id
        self._data = data
        self.exists = data is not None

    def to_dict(self) -> dict[str, Any] | None:
        return copy.deepcopy(self._data)

    def get(self, field: str) -> Any:
        assert self._data is not None
        value: Any = self._data
        for part in field.split("."):
            value = value[part]
        return copy.deepcopy(value)


class FakeDocument:
    def __init__(self, db: FakeFirestore, path: str, doc_id: str) -> None:
        self._db = db
        self.path = path
        self.id = doc_id

    def create(self, fields: Mapping[str, Any]) -> None:
        with self._db._lock:
            if self.path in self._db._docs:
                raise gexc.AlreadyExists(f"Document already exists: {self.path}")
            self._db._docs[self.path] = _without_deletes(fields)

    def set(self, fields: Mapping[str, Any]) -> None:
        with self._db._lock:
            self._db._docs[self.path] = _without_deletes(fields)

    def get(self) -> FakeSnapshot:
        with self._db._lock:
            return FakeSnapshot(self.id, copy.deepcopy(self._db._docs.get(self.path)))

    def update(self, fields: Mapping[str, Any]) -> None:
        with self._db._lock:
            doc = self._db._docs.get(self.path)
            if doc is None:
                raise gexc.NotFound(f"No document to update: {self.path}")
            for key, value in fields.items():
                # A dotted key names a nested field, as in Firestore's update().
                *parents, leaf = key.split(".")
                target = doc
                for part in parents:
                    target = target.setdefault(part, {})
                if value is firestore.DELETE_FIELD:
                    target.pop(leaf, None)
                else:
                    target[leaf] = copy.deepcopy(value)

    def delete(self) -> None:
        # Deleting a missing document is not an error in Firestore.
        with self._db._lock:
            self._db._docs.pop(self.path, None)


def _without_deletes(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {k: copy.deepcopy(v) for k, v in fields.items() if v is not firestore.DELETE_FIELD}
