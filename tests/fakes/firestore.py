"""An in-memory `google.cloud.firestore.Client`: documents by path, the calls JobStore makes
(create, get, update, set, delete) and transactions run by `firestore.transactional`.

A transaction here is optimistic: it remembers the version of every document it read and, at
commit, applies all its writes at once only if none of those documents changed meanwhile;
otherwise the commit raises `Aborted`, which `firestore.transactional` answers by running the
function again (at most `max_attempts` times, then a ValueError). The emulator locks instead of
comparing versions, but what a caller can see is the same: no lost update, writes invisible
until the commit, nothing written when the function raises. tests/fakes/test_contract.py checks
those behaviours on both.

`firestore.transactional` calls the transaction's private protocol (`_begin`, `_commit`,
`_rollback`, `_clean_up`, `_id`, `_max_attempts`, `_read_only`); FakeTransaction implements
exactly that, and the contract test fails if a library upgrade changes it.
"""

from __future__ import annotations

import copy
import operator
import secrets
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore

# firestore.Client.transaction's default.
MAX_ATTEMPTS = 5


class FakeFirestore:
    def __init__(self) -> None:
        self._docs: dict[str, dict[str, Any]] = {}
        # path -> how many times it was written; a transaction's reads are checked against it.
        self._versions: dict[str, int] = {}
        self._lock = threading.RLock()

    def collection(self, name: str) -> FakeCollection:
        return FakeCollection(self, name)

    def transaction(self, max_attempts: int = MAX_ATTEMPTS, read_only: bool = False) -> Any:
        return FakeTransaction(self, max_attempts=max_attempts, read_only=read_only)

    # -- what documents and transactions use --------------------------------------------------
    def _write(self, path: str, doc: dict[str, Any] | None) -> None:
        """Store (or, for None, remove) a document; the caller holds the lock."""
        if doc is None:
            self._docs.pop(path, None)
        else:
            self._docs[path] = doc
        self._versions[path] = self._versions.get(path, 0) + 1


class FakeCollection:
    def __init__(self, db: FakeFirestore, name: str) -> None:
        self._db = db
        self.id = name

    def document(self, doc_id: str) -> FakeDocument:
        return FakeDocument(self._db, f"{self.id}/{doc_id}", doc_id)

    def where(self, *, filter: Any) -> FakeQuery:
        return FakeQuery(self).where(filter=filter)


def _compare(op: str, value: Any, operand: Any) -> bool:
    """Firestore compares a range filter only with values of the operand's own type (a missing
    field matches nothing); equality is plain equality."""
    if op == "==":
        return bool(value == operand)
    if value is None or isinstance(value, bool) != isinstance(operand, bool):
        return False
    numbers = (int, float)
    same_kind = (isinstance(value, numbers) and isinstance(operand, numbers)) or isinstance(
        value, type(operand)
    )
    return same_kind and bool(_COMPARE[op](value, operand))


_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


class FakeQuery:
    """Filters on (dotted) fields, `where(filter=FieldFilter(path, op, value))` with op one of
    ==, <, <=, >, >=, and a limit. Range filters may name one field only, as in Firestore
    without a composite index; the results are ordered by it, then by document id."""

    def __init__(
        self,
        collection: FakeCollection,
        filters: tuple[tuple[str, str, Any], ...] = (),
        limit: int | None = None,
    ) -> None:
        self._collection, self._filters, self._limit = collection, filters, limit

    def where(self, *, filter: Any) -> FakeQuery:
        op, path = filter.op_string, str(filter.field_path)
        if op not in _COMPARE:
            raise NotImplementedError(f"the fake has no {op!r} filter")
        ranges = {p for p, o, _ in self._filters if o != "=="}
        if op != "==" and ranges - {path}:
            raise NotImplementedError("range filters on two fields need a composite index")
        return FakeQuery(self._collection, (*self._filters, (path, op, filter.value)), self._limit)

    def limit(self, count: int) -> FakeQuery:
        return FakeQuery(self._collection, self._filters, count)

    def stream(self) -> Iterator[FakeSnapshot]:
        db, prefix = self._collection._db, f"{self._collection.id}/"
        with db._lock:
            found = [
                (path, copy.deepcopy(doc))
                for path, doc in sorted(db._docs.items())
                if path.startswith(prefix) and "/" not in path[len(prefix) :]
            ]
        matching = [
            (p, d)
            for p, d in found
            if all(_compare(op, _field(d, path), value) for path, op, value in self._filters)
        ]
        ranged = [path for path, op, _ in self._filters if op != "=="]
        if ranged:
            # As Firestore: a range filter orders by its field first, then by document id.
            matching.sort(key=lambda item: _field(item[1], ranged[0]))
        for path, doc in matching[: self._limit]:
            yield FakeSnapshot(path[len(prefix) :], doc)


def _field(doc: dict[str, Any], path: str) -> Any:
    value: Any = doc
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


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
            self._db._write(self.path, _created(self.path, self._db._docs.get(self.path), fields))

    def set(self, fields: Mapping[str, Any]) -> None:
        with self._db._lock:
            self._db._write(self.path, _without_deletes(fields))

    def get(self, transaction: FakeTransaction | None = None) -> FakeSnapshot:
        with self._db._lock:
            if transaction is not None:
                transaction._read(self.path)
            return FakeSnapshot(self.id, copy.deepcopy(self._db._docs.get(self.path)))

    def update(self, fields: Mapping[str, Any]) -> None:
        with self._db._lock:
            self._db._write(self.path, _updated(self.path, self._db._docs.get(self.path), fields))

    def delete(self) -> None:
        # Deleting a missing document is not an error in Firestore.
        with self._db._lock:
            self._db._write(self.path, None)


class FakeTransaction:
    """What `firestore.transactional` drives: begin, the function's reads and buffered writes,
    then commit (all or nothing) or rollback."""

    def __init__(self, db: FakeFirestore, *, max_attempts: int, read_only: bool) -> None:
        self._db = db
        self._max_attempts = max_attempts
        self._read_only = read_only
        self._id: bytes | None = None
        self._reads: dict[str, int] = {}
        self._writes: list[tuple[str, str, dict[str, Any]]] = []

    @property
    def in_progress(self) -> bool:
        return self._id is not None

    # -- the function's calls ----------------------------------------------------------------
    def _read(self, path: str) -> None:
        if not self.in_progress:
            raise ValueError("the transaction has not begun")
        if self._writes:
            # As the real client: in a Firestore transaction every read precedes every write.
            raise firestore.ReadAfterWriteError("Attempted read after write in a transaction.")
        self._reads.setdefault(path, self._db._versions.get(path, 0))

    def create(self, ref: FakeDocument, fields: Mapping[str, Any]) -> None:
        self._writes.append(("create", ref.path, copy.deepcopy(dict(fields))))

    def set(self, ref: FakeDocument, fields: Mapping[str, Any]) -> None:
        self._writes.append(("set", ref.path, copy.deepcopy(dict(fields))))

    def update(self, ref: FakeDocument, fields: Mapping[str, Any]) -> None:
        self._writes.append(("update", ref.path, copy.deepcopy(dict(fields))))

    def delete(self, ref: FakeDocument) -> None:
        self._writes.append(("delete", ref.path, {}))

    # -- firestore.transactional's protocol --------------------------------------------------
    def _clean_up(self) -> None:
        self._id = None
        self._reads = {}
        self._writes = []

    def _begin(self, retry_id: bytes | None = None) -> None:
        if self.in_progress:
            raise ValueError("the transaction has already begun")
        self._id = secrets.token_bytes(8)

    def _commit(self) -> list[Any]:
        if not self.in_progress:
            raise ValueError("the transaction has not begun")
        with self._db._lock:
            changed = [p for p, v in self._reads.items() if self._db._versions.get(p, 0) != v]
            if changed:
                raise gexc.Aborted(f"Transaction lock timeout: {changed[0]} changed since read")
            # Every write is checked against the state the previous ones leave before any is
            # stored: a failing commit writes nothing.
            staged: dict[str, dict[str, Any] | None] = {}
            for kind, path, fields in self._writes:
                current = staged[path] if path in staged else self._db._docs.get(path)
                if kind == "create":
                    staged[path] = _created(path, current, fields)
                elif kind == "set":
                    staged[path] = _without_deletes(fields)
                elif kind == "update":
                    staged[path] = _updated(path, current, fields)
                else:
                    staged[path] = None
            for path, doc in staged.items():
                self._db._write(path, doc)
        self._clean_up()
        return []

    def _rollback(self) -> None:
        if not self.in_progress:
            raise ValueError("no transaction in progress to roll back")
        self._clean_up()


def _created(
    path: str, current: dict[str, Any] | None, fields: Mapping[str, Any]
) -> dict[str, Any]:
    if current is not None:
        raise gexc.AlreadyExists(f"Document already exists: {path}")
    return _without_deletes(fields)


def _updated(
    path: str, current: dict[str, Any] | None, fields: Mapping[str, Any]
) -> dict[str, Any]:
    if current is None:
        raise gexc.NotFound(f"No document to update: {path}")
    doc = copy.deepcopy(current)
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
    return doc


def _without_deletes(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {k: copy.deepcopy(v) for k, v in fields.items() if v is not firestore.DELETE_FIELD}
