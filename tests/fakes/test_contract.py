"""One contract, two implementations: every behaviour the services rely on, run against the
in-memory fakes (fast tier) and against the emulators (marker `stack`). A fake that drifts from
the real client fails here, next to the emulator run that shows the real behaviour."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from google.api_core import exceptions as gexc
from google.cloud import firestore

from devstack.stack import Stack
from gazokako.clients import Clients
from gazokako.config import Config
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
    resp = requests.post(
        f"{stack.url('storage')}/storage/v1/b",
        params={"project": stack.project},
        json={"name": bucket},
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
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
