"""Backfill: process the objects already in a bucket, as if each had just been dropped.

    python -m gazokako.backfill --bucket UPLOADS [--prefix inbox/] --target PROCESS_URL

For a team that turns the service on over an existing archive. It lists the prefix and, for
each object generation that has no job yet, or one neither finished nor being processed
(`drops/` in docs/JOBS.md; an erased one is left alone too), POSTs to the process function
exactly what a drop makes Eventarc deliver: the binary-mode CloudEvent
`google.cloud.storage.object.v1.finalized` of the object's current generation
(gazokako/events.py). The process function then does what it does for a drop (one job per
generation, however often the event comes), so a second run skips everything. Objects under
`u/` (the upload API's folder) and folder placeholders are left alone.

Against an `https://` target it sends an ID token for that URL (Cloud Run checks
`roles/run.invoker`); docs/JOBS.md ("Backfill") lists the roles and where to run it from.
A progress bar goes to stderr (`--no-progress` turns it off), one summary line to stdout. No
object name is printed or logged. Exit status 0 when nothing failed, 1 otherwise (run again:
what was done is skipped), 2 on a usage error. An event the function accepts without making a
job (a bucket that is not its uploads bucket) counts as failed, with a hint on stderr.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

import requests

from gazokako.events import cloudevent_headers, storage_object_json
from gazokako.ids import in_api_folder
from gazokako.jobs import DELETED, PROCESSING, TERMINAL, JobStore

PROCESSED, SKIPPED, FAILED = "processed", "skipped", "failed"
# Accepted but no job made: the function ignored the event (not its uploads bucket). Counted as
# failed, with a hint: nothing was processed, and a second run would "process" it again.
IGNORED = "ignored"
# A transient answer (500: a lease held by another delivery, a storage hiccup) is retried as
# Eventarc would, after these pauses; then the object counts as failed for this run.
RETRY_PAUSES = (1.0, 2.0, 4.0)
# An ID token lives an hour; a new one is fetched well before.
TOKEN_LIFETIME_S = 45 * 60


@dataclass(frozen=True)
class StoredObject:
    """What a listing gives of one object: its resource as the JSON API returns it."""

    name: str
    generation: int
    resource: dict[str, Any]


def event_id(bucket: str, name: str, generation: int) -> str:
    """The CloudEvent id of a backfilled generation: the same on every run, and no name in it."""
    digest = hashlib.sha256(f"{bucket}\n{name}\n{generation}".encode()).hexdigest()
    return f"backfill-{digest[:32]}"


def backfillable(name: str) -> bool:
    """Whether a listed object is one a drop could be: not the API's folder, not a folder."""
    return bool(name) and not name.endswith("/") and not in_api_folder(name)


class IdTokens:
    """ID tokens for an https target (cached, renewed before they expire); none for http."""

    def __init__(self, audience: str, fetch: Callable[[str], str] | None = None) -> None:
        self.audience = audience
        self._fetch = fetch
        self._lock = threading.Lock()
        self._token = ""
        self._fetched_at = 0.0

    def header(self) -> dict[str, str]:
        if self._fetch is None:
            return {}
        with self._lock:
            if not self._token or time.monotonic() - self._fetched_at > TOKEN_LIFETIME_S:
                self._token = self._fetch(self.audience)
                self._fetched_at = time.monotonic()
            return {"Authorization": f"Bearer {self._token}"}


def fetch_id_token(audience: str) -> str:
    """An ID token from Application Default Credentials: a service account (key, attached, or
    impersonated through `gcloud auth application-default login --impersonate-service-account`),
    as google-auth supports."""
    import google.auth.transport.requests  # noqa: PLC0415 - only an https target needs these
    import google.oauth2.id_token  # noqa: PLC0415

    request = google.auth.transport.requests.Request()
    return str(google.oauth2.id_token.fetch_id_token(request, audience))  # type: ignore[no-untyped-call]


class Backfill:
    def __init__(
        self,
        *,
        bucket: str,
        target: str,
        store: JobStore,
        tokens: IdTokens,
        http: requests.Session | None = None,
        pauses: Sequence[float] = RETRY_PAUSES,
    ) -> None:
        self.bucket = bucket
        self.target = target
        self.store = store
        self.tokens = tokens
        self.http = http or requests.Session()
        self.pauses = tuple(pauses)

    def one(self, obj: StoredObject) -> str:
        """Deliver one object's finalize event unless its generation is processed already."""
        status = self.store.drop_status(self.bucket, obj.name, obj.generation)
        if status in TERMINAL or status in (DELETED, PROCESSING):
            # Finished; being processed by its own event's delivery (a live lease); or erased
            # by DELETE /jobs/{id}, which a backfill must not bring back.
            return SKIPPED
        data = storage_object_json(obj.resource)
        headers = cloudevent_headers(
            event_id(self.bucket, obj.name, obj.generation), datetime.now(UTC), data
        )
        for pause in (*self.pauses, None):
            if self._post(data, headers):
                # The function answers only once the generation's job is settled.
                taken = self.store.drop_status(self.bucket, obj.name, obj.generation) is not None
                return PROCESSED if taken else IGNORED
            if pause is None:
                break
            time.sleep(pause)
        return FAILED

    def _post(self, data: dict[str, Any], headers: dict[str, str]) -> bool:
        try:
            resp = self.http.post(
                self.target,
                json=data,
                headers={**headers, **self.tokens.header()},
                timeout=600,
            )
        except requests.RequestException:
            return False
        return 200 <= resp.status_code < 300


def list_objects(client: Any, bucket: str, prefix: str) -> Iterator[StoredObject]:
    """Every object under `prefix` that a drop could be, at its current generation."""
    for blob in client.list_blobs(bucket, prefix=prefix or None):
        if not backfillable(blob.name):
            continue
        # The object resource as the JSON API returned it: what Eventarc sends as the data.
        resource = dict(blob._properties)
        resource.setdefault("bucket", bucket)
        yield StoredObject(name=blob.name, generation=int(blob.generation), resource=resource)


class Progress:
    """A one-line progress bar on stderr, as `python -m imaging apply DIR` draws; no names."""

    def __init__(self, total: int, stream: TextIO, enabled: bool) -> None:
        self.total, self.stream, self.enabled = total, stream, enabled
        self.start = time.monotonic()

    def update(self, done: int, counts: dict[str, int]) -> None:
        if not self.enabled:
            return
        width = 30
        filled = round(width * done / max(1, self.total))
        rate = done / max(1e-6, time.monotonic() - self.start)
        bar = "#" * filled + "-" * (width - filled)
        self.stream.write(
            f"\r[{bar}] {done}/{self.total} {rate:.1f}/s "
            f"{counts[PROCESSED]} processed, {counts[SKIPPED]} skipped, {failed(counts)} failed"
        )
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


def run(
    backfill: Backfill,
    objects: Sequence[StoredObject],
    *,
    workers: int,
    progress: Progress,
) -> dict[str, int]:
    counts = {PROCESSED: 0, SKIPPED: 0, FAILED: 0, IGNORED: 0}
    progress.update(0, counts)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = [pool.submit(backfill.one, obj) for obj in objects]
        for done, future in enumerate(as_completed(futures), 1):
            try:
                counts[future.result()] += 1
            except Exception:
                counts[FAILED] += 1
            progress.update(done, counts)
    progress.close()
    return counts


def failed(counts: dict[str, int]) -> int:
    return counts[FAILED] + counts.get(IGNORED, 0)


def summary(counts: dict[str, int]) -> str:
    return (
        f"backfill: {counts[PROCESSED]} processed, {counts[SKIPPED]} skipped "
        f"(processed or in progress), {failed(counts)} failed"
    )


IGNORED_HINT = (
    "backfill: the process function accepted {n} event(s) but made no job: is --bucket the "
    "bucket its trigger watches (UPLOADS_BUCKET)?"
)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m gazokako.backfill", description=(__doc__ or "").split("\n")[0]
    )
    p.add_argument(
        "--bucket", required=True, help="the uploads bucket (the one the trigger watches)"
    )
    p.add_argument("--prefix", default="", help="only objects whose names start with this")
    p.add_argument("--target", required=True, help="the process function's URL")
    p.add_argument("--project", default=None, help="Firestore's project (default: from ADC)")
    p.add_argument("--workers", type=int, default=4, help="deliveries at once (default 4)")
    p.add_argument("--no-progress", action="store_true")
    return p


def main(argv: Sequence[str] | None = None, *, stdout: TextIO = sys.stdout) -> int:
    args = _parser().parse_args(argv)
    # The client libraries find the emulators (STORAGE_EMULATOR_HOST, FIRESTORE_EMULATOR_HOST)
    # and the project (GOOGLE_CLOUD_PROJECT) in the environment themselves.
    from google.cloud import firestore, storage  # type: ignore[attr-defined]  # noqa: PLC0415

    storage_client = storage.Client(project=args.project)
    store = JobStore(firestore.Client(project=args.project))
    secure = args.target.startswith("https://")
    backfill = Backfill(
        bucket=args.bucket,
        target=args.target,
        store=store,
        tokens=IdTokens(args.target, fetch_id_token if secure else None),
    )
    objects = list(list_objects(storage_client, args.bucket, args.prefix))
    progress = Progress(len(objects), sys.stderr, enabled=not args.no_progress)
    counts = run(backfill, objects, workers=args.workers, progress=progress)
    if counts[IGNORED]:
        print(IGNORED_HINT.format(n=counts[IGNORED]), file=sys.stderr)
    print(summary(counts), file=stdout, flush=True)
    return 1 if failed(counts) else 0


if __name__ == "__main__":
    sys.exit(main())
