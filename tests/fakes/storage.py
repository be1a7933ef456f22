"""An in-memory `google.cloud.storage.Client`: the calls the services make, nothing more.

Objects have generations (a new one per write, as Cloud Storage numbers them), a blob handle
may pin one, and a missing object raises the library's NotFound. Signed URLs are made by the
real library from the object's name, so they are byte-for-byte what the real client signs.
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from google.api_core import exceptions as gexc
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage  # type: ignore[attr-defined]


@dataclass
class _Stored:
    data: bytes
    generation: int
    content_type: str | None
    metadata: dict[str, str] | None
    created: dt.datetime = dt.datetime.min


class FakeStorage:
    def __init__(self, project: str = "fake-project") -> None:
        self.project = project
        self._objects: dict[tuple[str, str], _Stored] = {}
        self._lock = threading.Lock()
        # Generations only grow, like the microsecond stamps Cloud Storage uses.
        self._generations = itertools.count(1_700_000_000_000_000)
        self._signing_client: storage.Client | None = None

    def bucket(self, name: str) -> FakeBucket:
        return FakeBucket(self, name)

    def list_blobs(self, bucket_or_name: Any, prefix: str | None = None) -> Iterator[FakeBlob]:
        bucket = bucket_or_name if isinstance(bucket_or_name, str) else bucket_or_name.name
        with self._lock:
            names = sorted(
                name for (b, name) in self._objects if b == bucket and name.startswith(prefix or "")
            )
        for name in names:
            blob = FakeBlob(self.bucket(bucket), name)
            blob.reload()
            yield blob

    # -- what FakeBlob uses -----------------------------------------------------------------
    def _get(self, bucket: str, name: str, generation: int | None) -> _Stored:
        with self._lock:
            found = self._objects.get((bucket, name))
        if found is None or (generation is not None and found.generation != generation):
            raise gexc.NotFound(f"No such object: {bucket}/{name}")
        return found

    def _put(
        self, bucket: str, name: str, stored: _Stored, if_generation_match: int | None = None
    ) -> None:
        with self._lock:
            if if_generation_match is not None:
                found = self._objects.get((bucket, name))
                live = found.generation if found is not None else 0
                if live != if_generation_match:
                    raise gexc.PreconditionFailed(f"generation mismatch: {bucket}/{name}")
            stored.generation = next(self._generations)
            stored.created = dt.datetime.now(dt.UTC)
            self._objects[(bucket, name)] = stored

    def _delete(
        self, bucket: str, name: str, generation: int | None, if_generation_match: int | None
    ) -> None:
        with self._lock:
            found = self._objects.get((bucket, name))
            if found is None or (generation is not None and found.generation != generation):
                raise gexc.NotFound(f"No such object: {bucket}/{name}")
            if if_generation_match is not None and found.generation != if_generation_match:
                raise gexc.PreconditionFailed(f"generation mismatch: {bucket}/{name}")
            del self._objects[(bucket, name)]

    def _real_blob(self, bucket: str, name: str) -> storage.Blob:
        if self._signing_client is None:
            self._signing_client = storage.Client(
                project=self.project, credentials=AnonymousCredentials()
            )
        return self._signing_client.bucket(bucket).blob(name)


class FakeBucket:
    def __init__(self, client: FakeStorage, name: str) -> None:
        self.client = client
        self.name = name

    def blob(self, name: str, generation: int | None = None) -> FakeBlob:
        return FakeBlob(self, name, generation)

    def get_blob(self, name: str) -> FakeBlob | None:
        blob = FakeBlob(self, name)
        try:
            blob.reload()
        except gexc.NotFound:
            return None
        return blob


class FakeBlob:
    def __init__(self, bucket: FakeBucket, name: str, generation: int | None = None) -> None:
        self.bucket = bucket
        self.name = name
        self.generation = generation
        self.content_type: str | None = None
        self.metadata: dict[str, str] | None = None
        self.size: int | None = None
        self.time_created: dt.datetime | None = None

    @property
    def _store(self) -> FakeStorage:
        return self.bucket.client

    def upload_from_string(
        self,
        data: bytes | str,
        content_type: str | None = None,
        if_generation_match: int | None = None,
    ) -> None:
        """Write a new generation; with `if_generation_match` only if the live object has that
        generation (0: only if there is none), else PreconditionFailed (HTTP 412)."""
        payload = data.encode() if isinstance(data, str) else bytes(data)
        stored = _Stored(payload, 0, content_type, dict(self.metadata) if self.metadata else None)
        self._store._put(self.bucket.name, self.name, stored, if_generation_match)
        self.generation = stored.generation
        self.content_type = content_type
        self.size = len(payload)
        self.time_created = stored.created

    def download_as_bytes(self) -> bytes:
        return self._store._get(self.bucket.name, self.name, self.generation).data

    def reload(self) -> None:
        stored = self._store._get(self.bucket.name, self.name, self.generation)
        self.generation = stored.generation
        self.content_type = stored.content_type
        self.metadata = dict(stored.metadata) if stored.metadata else None
        self.size = len(stored.data)
        self.time_created = stored.created

    def exists(self) -> bool:
        try:
            self._store._get(self.bucket.name, self.name, self.generation)
        except gexc.NotFound:
            return False
        return True

    def delete(self, if_generation_match: int | None = None) -> None:
        self._store._delete(self.bucket.name, self.name, self.generation, if_generation_match)

    @property
    def _properties(self) -> dict[str, Any]:
        """The object resource, as the real blob keeps it after an upload (what an event holds)."""
        props: dict[str, Any] = {"bucket": self.bucket.name, "name": self.name}
        if self.generation is not None:
            props.update(generation=self.generation, metageneration=1)
        if self.size is not None:
            props["size"] = self.size
        if self.content_type:
            props["contentType"] = self.content_type
        if self.metadata:
            props["metadata"] = dict(self.metadata)
        if self.time_created is not None:
            stamp = self.time_created.isoformat(timespec="milliseconds")
            props["timeCreated"] = stamp.replace("+00:00", "Z")
        return props

    def generate_signed_url(self, **kwargs: Any) -> str:
        real = self._store._real_blob(self.bucket.name, self.name)
        return str(real.generate_signed_url(**kwargs))
