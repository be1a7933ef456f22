"""What the backfill skips and what it delivers, decided from the job store (on the fakes and on
the emulator); the whole command runs through a real stack in tests/e2e/test_backfill.py."""

from __future__ import annotations

import datetime as dt
import io

from PIL import Image

from gazokako import jobs
from gazokako.backfill import (
    FAILED,
    SKIPPED,
    Backfill,
    IdTokens,
    StoredObject,
    backfillable,
    event_id,
    summary,
)
from gazokako.ids import new_job_id
from tests.process.conftest import World

# Nothing listens here: a delivery to it fails at once (connection refused), never hangs.
NOWHERE = "http://127.0.0.1:9"


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 20, 30)).save(out, format="PNG")
    return out.getvalue()


def _backfill(world: World) -> Backfill:
    return Backfill(
        bucket=world.config.uploads_bucket,
        target=NOWHERE,
        store=world.store,
        tokens=IdTokens(NOWHERE),
        pauses=(),
    )


def _stored(data: dict[str, object]) -> StoredObject:
    return StoredObject(str(data["name"]), int(str(data["generation"])), dict(data))


def test_each_state_of_a_drop_decides_skip_or_deliver(world: World) -> None:
    backfill = _backfill(world)
    bucket = world.config.uploads_bucket

    # Processed already: skipped, nothing sent.
    done = world.put(f"archive/{new_job_id()}.png", _png())
    world.deliver(done)
    assert world.store.drop_status(bucket, done["name"], int(done["generation"])) == jobs.DONE
    assert backfill.one(_stored(done)) == SKIPPED

    # Never delivered: no job, so it is delivered (and fails here: nobody listens).
    fresh = world.put(f"archive/{new_job_id()}.png", _png())
    generation = int(fresh["generation"])
    assert world.store.drop_status(bucket, fresh["name"], generation) is None
    assert backfill.one(_stored(fresh)) == FAILED

    # A job that was made but never claimed is delivered again; a live claim is left alone; a
    # claim whose lease ran out (its holder died) is delivered again.
    now = jobs.utcnow()
    job_id = new_job_id()
    fields = jobs.drop_job(
        job_id,
        bucket=bucket,
        name=fresh["name"],
        generation=generation,
        ops=["grayscale"],
        filename="x.png",
        content_type="image/png",
        declared_bytes=1,
        now=now,
        expires_at=now + dt.timedelta(days=1),
    )
    assert world.store.create_drop_job(bucket, fresh["name"], generation, fields, job_id) == (
        job_id,
        True,
    )
    assert world.store.drop_status(bucket, fresh["name"], generation) == jobs.QUEUED
    assert backfill.one(_stored(fresh)) == FAILED
    claim = world.store.claim(job_id, generation, lease_seconds=300)
    assert claim.outcome == jobs.ClaimOutcome.CLAIMED
    assert world.store.drop_status(bucket, fresh["name"], generation) == jobs.PROCESSING
    assert backfill.one(_stored(fresh)) == SKIPPED
    world.store.update(job_id, {"lease_until": now - dt.timedelta(seconds=1)})
    assert world.store.drop_status(bucket, fresh["name"], generation) == jobs.QUEUED

    # Erased by DELETE /jobs/{id}: never brought back.
    assert world.store.erase(job_id) is not None
    assert world.store.drop_status(bucket, fresh["name"], generation) == jobs.DELETED
    assert backfill.one(_stored(fresh)) == SKIPPED


def test_what_is_listed_and_how_it_is_named() -> None:
    assert backfillable("archive/2019/a.jpg") and backfillable("inbox/u/x.jpg")
    assert not backfillable(f"u/{new_job_id()}/source") and not backfillable("u/other")
    assert not backfillable("archive/2020/") and not backfillable("")
    one = event_id("b", "archive/a.jpg", 7)
    assert one == event_id("b", "archive/a.jpg", 7) and one.startswith("backfill-")
    assert one != event_id("b", "archive/a.jpg", 8) and "archive" not in one
    assert summary({"processed": 2, "skipped": 1, "failed": 0}) == (
        "backfill: 2 processed, 1 skipped (processed or in progress), 0 failed"
    )


def test_an_https_target_gets_an_id_token_for_its_url_and_http_none() -> None:
    asked: list[str] = []

    def fetch(audience: str) -> str:
        asked.append(audience)
        return f"token-{len(asked)}"

    tokens = IdTokens("https://process.example", fetch)
    assert tokens.header() == {"Authorization": "Bearer token-1"}
    assert tokens.header() == {"Authorization": "Bearer token-1"}  # cached, not fetched again
    assert asked == ["https://process.example"]
    assert IdTokens("http://127.0.0.1:1").header() == {}
