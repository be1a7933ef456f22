"""In-process tier of the process function: the real service (or the real function app) on two
backends. `fake`: the named in-memory fakes of tests/fakes (fast tier). `emulator` (marker
`stack`): the emulators of the session stack, with buckets of its own so the session's bridge
never delivers these objects to the stack's own process function. Every test of the service
runs on both; the contract test (tests/fakes/test_contract.py) keeps the fakes honest."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

import pytest
from google.cloud import storage  # type: ignore[attr-defined]

from devstack.stack import Stack
from gazokako import jobs
from gazokako.clients import Clients
from gazokako.config import Config
from gazokako.events import storage_object_json
from gazokako.ids import api_job_of, new_job_id, results_prefix
from gazokako.processing import ProcessService
from tests.fakes import FakeClients, FakeFirestore, FakeStorage
from tests.support.topics import EmulatorTopic, FakeTopic, TopicReader


@pytest.fixture(scope="module")
def buckets(stack_handle: Stack) -> tuple[str, str]:
    suffix = secrets.token_hex(4)
    names = (f"proc-uploads-{suffix}", f"proc-results-{suffix}")
    for name in names:
        stack_handle.create_bucket(name)
    return names


@pytest.fixture
def emulator_env(stack_handle: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    env = stack_handle.function_env()
    for key in ("STORAGE_EMULATOR_HOST", "FIRESTORE_EMULATOR_HOST"):
        monkeypatch.setenv(key, env[key])


@dataclass
class World:
    """One config + clients + service, and the moves a test makes on them."""

    config: Config
    clients: Clients | FakeClients
    service: ProcessService
    # Clients for another config on the same backend (and, for the fakes, the same state).
    connect: Callable[[Config], Clients | FakeClients]

    @property
    def store(self) -> jobs.JobStore:
        return self.service.store

    def with_config(self, **changes: Any) -> World:
        config = replace(self.config, **changes)
        clients = self.connect(config)
        return World(config, clients, ProcessService(clients), self.connect)

    def new_api_job(self, ops: list[str], options: Mapping[str, Any] | None = None) -> str:
        """A job as the upload API makes it (docs/JOBS.md: status awaiting_upload)."""
        job_id = new_job_id()
        now = jobs.utcnow()
        self.store.create(
            job_id,
            jobs.api_job(
                job_id,
                bucket=self.config.uploads_bucket,
                ops=ops,
                options=dict(options or {}),
                filename="photo",
                content_type="image/png",
                declared_bytes=1,
                now=now,
                expires_at=now + dt.timedelta(days=self.config.job_ttl_days),
            ),
        )
        return job_id

    def put(
        self,
        name: str,
        data: bytes,
        content_type: str = "image/png",
        metadata: Mapping[str, str] | None = None,
        *,
        declare: bool = True,
    ) -> dict[str, Any]:
        """Write an object to the uploads bucket; returns the event data Eventarc would send.

        For an API job's source, `declare` first records the object's size as the client's
        declared size, as POST /uploads would have; `declare=False` keeps what was declared.
        """
        job_id = api_job_of(name)
        if declare and job_id is not None and self.store.get(job_id) is not None:
            self.store.update(job_id, {"source.declared_bytes": len(data)})
        blob = self.clients.storage.bucket(self.config.uploads_bucket).blob(name)
        if metadata:
            blob.metadata = dict(metadata)
        blob.upload_from_string(data, content_type=content_type)
        return storage_object_json(blob._properties)

    def deliver(self, data: Mapping[str, Any]) -> None:
        self.service.handle_finalized(
            {"type": "google.cloud.storage.object.v1.finalized", "id": secrets.token_hex(8)}, data
        )

    def job(self, job_id: str) -> dict[str, Any]:
        found = self.store.get(job_id)
        assert found is not None, job_id
        return found

    def results(self, job_id: str) -> list[storage.Blob]:
        return list(
            self.clients.storage.list_blobs(
                self.config.results_bucket, prefix=results_prefix(job_id)
            )
        )

    def result_object(self, name: str) -> storage.Blob | None:
        """The results bucket's object of that name (with its metadata), if there is one."""
        return self.clients.storage.bucket(self.config.results_bucket).get_blob(name)

    def drop_jobs(self, name: str) -> list[dict[str, Any]]:
        """Every job made for a dropped object name (any generation)."""
        query = self.clients.firestore.collection(jobs.COLLECTION).where(
            filter=_field_filter("source.name", "==", name)
        )
        found = [snap.to_dict() or {} for snap in query.stream()]
        return [j for j in found if j.get("source", {}).get("bucket") == self.config.uploads_bucket]


def _field_filter(path: str, op: str, value: Any) -> Any:
    from google.cloud.firestore_v1.base_query import FieldFilter

    return FieldFilter(path, op, value)


BACKENDS = ["fake", pytest.param("emulator", marks=pytest.mark.stack)]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Which clients a world runs on; a module that needs the emulators overrides this."""
    return str(request.param)


@pytest.fixture
def make_world(backend: str, request: pytest.FixtureRequest) -> Callable[..., World]:
    if backend == "fake":
        storage, firestore = FakeStorage(), FakeFirestore()

        def connect(config: Config) -> Clients | FakeClients:
            return FakeClients(config, storage, firestore)

        base = Config(
            project="fake-project",
            uploads_bucket="proc-uploads",
            results_bucket="proc-results",
            default_ops=("grayscale",),
        )
    else:
        # Looked up only here, so a fake world's test never starts the emulators.
        stack: Stack = request.getfixturevalue("stack_handle")
        uploads, results = request.getfixturevalue("buckets")
        request.getfixturevalue("emulator_env")
        connect = Clients
        base = Config(
            project=stack.project,
            uploads_bucket=uploads,
            results_bucket=results,
            storage_public_url=stack.function_env()["STORAGE_PUBLIC_URL"],
            default_ops=("grayscale",),
        )

    def make(**changes: Any) -> World:
        config = replace(base, **changes)
        clients = connect(config)
        return World(config, clients, ProcessService(clients), connect)

    return make


@pytest.fixture
def world(make_world: Callable[..., World]) -> World:
    return make_world()


@pytest.fixture
def make_topic_world(
    make_world: Callable[..., World],
    backend: str,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Callable[..., tuple[World, TopicReader]]]:
    """A factory of worlds whose JOBS_TOPIC is a topic of the test's own, each with a reader of
    that topic (FakePublisher's list, or a subscription on the emulator made before any
    publish); `make_world`'s config changes pass through."""
    readers: list[TopicReader] = []

    def make(**changes: Any) -> tuple[World, TopicReader]:
        topic_id = f"outcomes-{secrets.token_hex(4)}"
        reader: TopicReader
        if backend == "fake":
            world = make_world(jobs_topic=topic_id, **changes)
            reader = FakeTopic(world.clients.publisher, world.clients.topic_path(topic_id))
        else:
            stack: Stack = request.getfixturevalue("stack_handle")
            monkeypatch.setenv("PUBSUB_EMULATOR_HOST", stack.pubsub_host)
            world = make_world(jobs_topic=topic_id, **changes)
            reader = EmulatorTopic(stack.project, topic_id, create=True)
        readers.append(reader)
        return world, reader

    yield make
    for reader in readers:
        reader.close()
