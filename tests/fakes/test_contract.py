"""One contract, two implementations: every behaviour the services rely on, run against the
in-memory fakes (fast tier) and against the emulators (marker `stack`). A fake that drifts from
the real client fails here, next to the emulator run that shows the real behaviour."""

from __future__ import annotations

import datetime as dt
import secrets
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from google.api_core import exceptions as gexc
from google.cloud import firestore

from devstack.stack import Stack
from gazokako import jobs
from gazokako.clients import Clients
from gazokako.config import Config
from gazokako.ids import new_job_id
from tests.fakes import FakeClients

IMPLEMENTATIONS = ["fake", pytest.param("emulator", marks=pytest.mark.stack)]


@pytest.fixture(params=IMPLEMENTATIONS)
def clients(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Any, str]]:
    """(clients, bucket): the fakes, or real clients on the session's emulators."""
    bucket = f"contract-{secrets.token_hex(4)}"
    if request.param == "fake":
        config = Config(project="p", uploads_bucket=bucket, results_bucket=bucket)
        yield FakeClients(config), bucket
        return
    stack: Stack = request.getfixturevalue("stack_handle")
    env = stack.function_env()
    for key in ("STORAGE_EMULATOR_HOST", "FIRESTORE_EMULATOR_HOST"):
        monkeypatch.setenv(key, env[key])
    stack.create_bucket(bucket)
    config = Config(project=stack.project, uploads_bucket=bucket, results_bucket=bucket)
    yield Clients(config), bucket


# -- storage ---------------------------------------------------------------------------------


def test_storage_round_trip_and_generations(clients: tuple[Any, str]) -> None:
    client, bucket = clients
    blob = client.storage.bucket(bucket).blob("u/a/source")
    blob.upload_from_string(b"first", content_type="image/png")
    first = int(blob.generation)
    assert client.storage.bucket(bucket).blob("u/a/source").download_as_bytes() == b"first"
    again = client.storage.bucket(bucket).blob("u/a/source")
    again.upload_from_string(b"second", content_type="image/png")
    assert int(again.generation) > first
    # A handle pinned to the old generation no longer finds it; the current one does.
    with pytest.raises(gexc.NotFound):
        client.storage.bucket(bucket).blob("u/a/source", generation=first).download_as_bytes()
    current = client.storage.bucket(bucket).blob("u/a/source", generation=int(again.generation))
    assert current.download_as_bytes() == b"second"


def test_storage_missing_objects_raise_not_found(clients: tuple[Any, str]) -> None:
    client, bucket = clients
    missing = client.storage.bucket(bucket).blob("nothing/here")
    with pytest.raises(gexc.NotFound):
        missing.download_as_bytes()
    with pytest.raises(gexc.NotFound):
        missing.delete()


def test_storage_lists_by_prefix_and_deletes(clients: tuple[Any, str]) -> None:
    client, bucket = clients
    for name in ("r/j1/a.png", "r/j1/b.png", "r/j10/c.png", "u/j1/source"):
        client.storage.bucket(bucket).blob(name).upload_from_string(b"x")
    listed = [b.name for b in client.storage.list_blobs(bucket, prefix="r/j1/")]
    assert listed == ["r/j1/a.png", "r/j1/b.png"]
    for blob in client.storage.list_blobs(bucket, prefix="r/j1/"):
        blob.delete()
    assert [b.name for b in client.storage.list_blobs(bucket, prefix="r/")] == ["r/j10/c.png"]


def test_storage_conditional_upload_and_custom_metadata(clients: tuple[Any, str]) -> None:
    """`if_generation_match` on a write: 0 means "only if absent", a generation means "only if
    the live object is that one"; a mismatch is a 412 and writes nothing. Custom metadata
    written with the object comes back on a read (the drop results' compare-and-swap)."""
    client, bucket = clients
    name = f"inbox/{secrets.token_hex(4)}.jpg.jpg"
    first = client.storage.bucket(bucket).blob(name)
    first.metadata = {"gazokako-source-generation": "5"}
    first.upload_from_string(b"first", content_type="image/jpeg", if_generation_match=0)
    gen = int(first.generation)
    stale = client.storage.bucket(bucket).blob(name)
    with pytest.raises(gexc.PreconditionFailed):
        stale.upload_from_string(b"stale", content_type="image/jpeg", if_generation_match=0)
    with pytest.raises(gexc.PreconditionFailed):
        stale.upload_from_string(b"stale", content_type="image/jpeg", if_generation_match=gen + 1)
    found = client.storage.bucket(bucket).get_blob(name)
    assert found is not None and int(found.generation) == gen
    assert found.download_as_bytes() == b"first"
    assert found.metadata == {"gazokako-source-generation": "5"}
    second = client.storage.bucket(bucket).blob(name)
    second.metadata = {"gazokako-source-generation": "6"}
    second.upload_from_string(b"second", content_type="image/jpeg", if_generation_match=gen)
    assert int(second.generation) > gen
    again = client.storage.bucket(bucket).get_blob(name)
    assert again is not None and again.download_as_bytes() == b"second"
    assert again.metadata == {"gazokako-source-generation": "6"}


# -- Firestore -------------------------------------------------------------------------------


def _doc(client: Any) -> Any:
    return client.firestore.collection("contract").document(secrets.token_hex(8))


def test_firestore_create_get_and_no_second_create(clients: tuple[Any, str]) -> None:
    client, _ = clients
    ref = _doc(client)
    assert not ref.get().exists
    assert ref.get().to_dict() is None
    now = dt.datetime(2026, 11, 29, 12, 0, 0, 123456, tzinfo=dt.UTC)
    fields = {"status": "awaiting_upload", "ops": ["grayscale"], "source": {"n": 1}, "at": now}
    ref.create(fields)
    got = ref.get()
    assert got.exists and got.to_dict() == fields
    with pytest.raises(gexc.AlreadyExists):
        ref.create({"status": "other"})
    # What a reader got is a copy: changing it changes nothing stored.
    got.to_dict()["source"]["n"] = 2  # type: ignore[index]
    assert ref.get().to_dict()["source"] == {"n": 1}


def test_firestore_update_merges_deletes_fields_and_needs_the_document(
    clients: tuple[Any, str],
) -> None:
    client, _ = clients
    ref = _doc(client)
    with pytest.raises(gexc.NotFound):
        ref.update({"status": "done"})
    ref.create({"status": "processing", "error": {"code": "x"}, "source": {"a": 1, "b": 2}})
    ref.update({"status": "done", "error": firestore.DELETE_FIELD, "source.b": 3})
    assert ref.get().to_dict() == {"status": "done", "source": {"a": 1, "b": 3}}


def test_firestore_delete_is_idempotent(clients: tuple[Any, str]) -> None:
    client, _ = clients
    ref = _doc(client)
    ref.create({"status": "done"})
    ref.delete()
    assert not ref.get().exists
    ref.delete()


# -- Firestore transactions (what JobStore's claim, finish, release and erase rest on) --------


def test_transaction_writes_are_seen_only_after_the_commit(clients: tuple[Any, str]) -> None:
    client, _ = clients
    ref = _doc(client)
    ref.create({"n": 1, "tag": "a"})
    seen_inside: list[Any] = []

    @firestore.transactional
    def bump(tx: Any) -> int:
        n = int(ref.get(transaction=tx).to_dict()["n"])
        tx.update(ref, {"n": n + 1, "tag": firestore.DELETE_FIELD})
        seen_inside.append(ref.get().to_dict())
        return n + 1

    assert bump(client.firestore.transaction()) == 2
    assert seen_inside == [{"n": 1, "tag": "a"}]
    assert ref.get().to_dict() == {"n": 2}


def test_a_transaction_that_raises_writes_nothing(clients: tuple[Any, str]) -> None:
    client, _ = clients
    ref, other = _doc(client), _doc(client)
    ref.create({"n": 1})

    @firestore.transactional
    def broken(tx: Any) -> None:
        ref.get(transaction=tx)
        tx.update(ref, {"n": 2})
        tx.create(other, {"n": 1})
        raise RuntimeError("the function failed")

    with pytest.raises(RuntimeError, match="the function failed"):
        broken(client.firestore.transaction())
    assert ref.get().to_dict() == {"n": 1}
    assert not other.get().exists


@pytest.mark.parametrize(
    ("write", "error"), [("create", gexc.AlreadyExists), ("update", gexc.NotFound)]
)
def test_a_commit_that_fails_writes_nothing(
    clients: tuple[Any, str], write: str, error: type[Exception]
) -> None:
    client, _ = clients
    ref, target = _doc(client), _doc(client)
    ref.create({"n": 1})
    if write == "create":
        target.create({"there": True})

    @firestore.transactional
    def attempt(tx: Any) -> None:
        ref.get(transaction=tx)
        tx.update(ref, {"n": 2})
        getattr(tx, write)(target, {"n": 1})

    with pytest.raises(error):
        attempt(client.firestore.transaction())
    assert ref.get().to_dict() == {"n": 1}
    assert target.get().to_dict() == ({"there": True} if write == "create" else None)


def test_a_transaction_reads_before_it_writes(clients: tuple[Any, str]) -> None:
    client, _ = clients
    ref = _doc(client)
    ref.create({"n": 1})

    @firestore.transactional
    def read_after_write(tx: Any) -> None:
        tx.update(ref, {"n": 2})
        ref.get(transaction=tx)

    with pytest.raises(firestore.ReadAfterWriteError):
        read_after_write(client.firestore.transaction())
    assert ref.get().to_dict() == {"n": 1}


def test_concurrent_transactions_lose_no_update(clients: tuple[Any, str]) -> None:
    """Two read-modify-write transactions that both read before either writes: the commit that
    would overwrite the other's update is refused, and the function runs again on fresh data."""
    client, _ = clients
    ref = _doc(client)
    ref.create({"n": 0})
    both_read = threading.Barrier(2)
    runs: list[int] = []

    @firestore.transactional
    def bump(tx: Any) -> None:
        n = int(ref.get(transaction=tx).to_dict()["n"])
        runs.append(n)
        if len(runs) <= 2:
            both_read.wait()
        tx.update(ref, {"n": n + 1})

    with ThreadPoolExecutor(2) as pool:
        for future in [pool.submit(bump, client.firestore.transaction()) for _ in range(2)]:
            future.result()
    assert ref.get().to_dict() == {"n": 2}
    # At least one run was refused and ran again on fresh data; under contention the emulator
    # may abort both first attempts (its locks are pessimistic), so more runs are allowed.
    assert len(runs) >= 3 and sorted(runs)[:2] == [0, 0] and max(runs) == 1


def test_of_two_simultaneous_claims_exactly_one_wins(clients: tuple[Any, str]) -> None:
    client, bucket = clients
    store = jobs.JobStore(client.firestore)
    job_id = new_job_id()
    now = jobs.utcnow()
    store.create(
        job_id,
        jobs.api_job(
            job_id,
            bucket=bucket,
            ops=["grayscale"],
            options={},
            filename="photo",
            content_type="image/png",
            declared_bytes=1,
            now=now,
            expires_at=now + dt.timedelta(days=1),
        ),
    )
    start = threading.Barrier(2)

    def claim() -> jobs.ClaimOutcome:
        start.wait()
        return store.claim(job_id, 7, lease_seconds=60).outcome

    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(f.result().value for f in [pool.submit(claim) for _ in range(2)])
    assert outcomes == ["busy", "claimed"]
    job = store.get(job_id)
    assert job is not None and job["status"] == jobs.PROCESSING and job["generation"] == 7
