"""The fault and load run's engine, shared by its test (tests/process/test_fault_load.py, scaled
down) and its command (bench/fault_load.py, the full 300): a local stack of its own, many uploads
at once, valid photos and invalid files, direct bucket drops, while the bridge duplicates, delays
and re-sends events and the process function is killed (SIGKILL) and restarted mid-run.

`run()` checks that every upload ends in exactly one terminal status (the expected one), that
every successful job has exactly one result object, that nothing is lost and no result is
orphaned; the report carries throughput and upload->done latency. It lives with the tests so
that bench/ imports tests/support/ and never the other way round.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import secrets
import signal
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import requests

from devstack.stack import JOBS_TOPIC, Stack
from tests.support.corpus import skimage_image
from tests.support.topics import EmulatorTopic

# What the fault runs inject; the lease is short so that a killed instance's claims are taken
# over within seconds, not the five minutes production uses.
FAULT_BRIDGE_ARGS = (
    "--duplicate-rate=0.3",
    "--duplicate-max-delay=2",
    "--delay-rate=0.3",
    "--max-delay=4",
    "--lose-ack-rate=0.1",
    "--min-backoff=0.5",
    "--max-backoff=4",
    "--workers=8",
)
FAULT_PROCESS_ENV = {"LEASE_SECONDS": "10", "DEFAULT_OPS": "grayscale"}
TERMINAL = ("done", "failed")


@dataclass(frozen=True)
class Item:
    """One thing put into the uploads bucket, and the outcome it must end with."""

    kind: str  # "api" or "drop"
    label: str
    data: bytes
    content_type: str
    ops: tuple[str, ...]
    expect: str  # "done" or "failed"


@dataclass
class Sent:
    item: Item
    job_id: str | None = None  # api jobs: known at once; drops: found by object name
    object_name: str = ""
    uploaded_at: dt.datetime | None = None
    error: str | None = None


@dataclass
class Report:
    uploads: int
    drops: int
    seconds: float = 0.0
    upload_seconds: float = 0.0  # until the last object was in the bucket
    throughput_per_s: float = 0.0
    latency_p50_s: float = 0.0
    latency_p99_s: float = 0.0
    latency_max_s: float = 0.0
    outcomes: dict[str, int] = field(default_factory=dict)
    kills: int = 0
    # claims per job: more than 1 means a crash, a lost lease or a transient error was retried
    attempts: dict[str, int] = field(default_factory=dict)
    # median time inside the processor (claim to result written) per kind of item, ms
    processing_p50_ms: dict[str, float] = field(default_factory=dict)
    bridge: dict[str, int] = field(default_factory=dict)
    # messages on the jobs topic, and how many of them repeat an outcome already published
    # (at-least-once: only a crash between the publish and the record's mark repeats one)
    outcome_messages: int = 0
    outcome_duplicates: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _jpeg(img: np.ndarray) -> bytes:
    ok, out = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return bytes(out.tobytes())


def corpus(large: bool) -> tuple[list[Item], list[Item]]:
    """(valid, invalid) items made from real photos of the scikit-image wheel."""
    coffee = skimage_image("coffee.png")
    astronaut = skimage_image("astronaut.png")
    chelsea = skimage_image("chelsea.png")
    decoded = cv2.imdecode(np.frombuffer(coffee, np.uint8), cv2.IMREAD_COLOR)
    assert decoded is not None
    coffee_jpg = _jpeg(decoded)
    valid = [
        Item("api", "coffee-gray", coffee, "image/png", ("grayscale",), "done"),
        Item("api", "astronaut-mosaic", astronaut, "image/png", ("mosaic_faces",), "done"),
        Item("api", "chelsea-blur", chelsea, "image/png", ("blur_faces",), "done"),
        Item("api", "coffee-jpeg-gray", coffee_jpg, "image/jpeg", ("grayscale",), "done"),
    ]
    if large:
        # A 12-megapixel camera-sized JPEG, so the run is not only thumbnails.
        big = cv2.resize(decoded, (4000, 3000), interpolation=cv2.INTER_CUBIC)
        valid.append(
            Item(
                "api",
                "12mp-mosaic",
                _jpeg(big),
                "image/jpeg",
                ("mosaic_faces",),
                "done",
            )
        )
    noise = random.Random(7).randbytes(20_000)
    invalid = [
        Item("api", "not-an-image", noise, "image/jpeg", ("grayscale",), "failed"),
        Item(
            "api", "truncated-jpeg", coffee_jpg[: len(coffee_jpg) // 3], "image/jpeg", (), "failed"
        ),
        Item("api", "gif-as-png", b"GIF89a" + noise[:500], "image/png", ("grayscale",), "failed"),
    ]
    return valid, invalid


def plan(uploads: int, drops: int, invalid_share: float, *, large: bool, seed: int) -> list[Item]:
    valid, invalid = corpus(large)
    rng = random.Random(seed)
    items: list[Item] = []
    for i in range(uploads):
        pool = invalid if rng.random() < invalid_share else valid
        items.append(pool[i % len(pool)])
    for i in range(drops):
        base = valid[i % len(valid)] if i % 4 else invalid[i % len(invalid)]
        # One drop in three carries no metadata: it runs the configured default.
        ops = base.ops if i % 3 else ()
        items.append(Item("drop", base.label, base.data, base.content_type, ops, base.expect))
    rng.shuffle(items)
    return items


_env_lock = threading.Lock()


@contextmanager
def _emulators(stack: Stack) -> Iterator[None]:
    """The clients read the emulator addresses when they are built; this process may be a test
    session with another stack, so the environment is changed only for that moment."""
    env = stack.function_env()
    keys = ("STORAGE_EMULATOR_HOST", "FIRESTORE_EMULATOR_HOST", "PUBSUB_EMULATOR_HOST")
    with _env_lock:
        old = {k: os.environ.get(k) for k in keys}
        os.environ.update({k: env[k] for k in keys})
        try:
            yield
        finally:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


class Harness:
    """Client side of the run: the upload API over HTTP, drops and checks on the emulators."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import firestore, storage  # type: ignore[attr-defined]

        with _emulators(stack):
            anonymous = AnonymousCredentials()  # type: ignore[no-untyped-call]
            self.storage = storage.Client(project=stack.project, credentials=anonymous)
            self.db = firestore.Client(project=stack.project)
            # Subscribed before the first upload: every outcome message of the run arrives here.
            self.outcomes = EmulatorTopic(stack.project, JOBS_TOPIC)
        self.http = requests.Session()
        self.http.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=64))

    def send(self, item: Item) -> Sent:
        sent = Sent(item)
        try:
            if item.kind == "api":
                self._via_api(sent)
            else:
                self._drop(sent)
        except Exception as exc:
            sent.error = repr(exc)
        return sent

    def _via_api(self, sent: Sent) -> None:
        item = sent.item
        body: dict[str, Any] = {
            "filename": f"{item.label}",
            "content_type": item.content_type,
            "size": len(item.data),
            "ops": list(item.ops),
        }
        resp = self.http.post(f"{self.stack.url('upload')}/uploads", json=body, timeout=60)
        resp.raise_for_status()
        created = resp.json()
        sent.job_id = created["id"]
        sent.object_name = f"u/{created['id']}/source"
        upload = created["upload"]
        put = self.http.request(
            upload["method"], upload["url"], data=item.data, headers=upload["headers"], timeout=60
        )
        put.raise_for_status()
        sent.uploaded_at = dt.datetime.now(dt.UTC)

    def _drop(self, sent: Sent) -> None:
        item = sent.item
        name = f"inbox/{secrets.token_hex(8)}/{item.label}"
        blob = self.storage.bucket(self.stack.uploads_bucket).blob(name)
        if item.ops:
            blob.metadata = {"ops": ",".join(item.ops)}
        blob.upload_from_string(item.data, content_type=item.content_type)
        sent.object_name = name
        sent.uploaded_at = dt.datetime.now(dt.UTC)

    def all_jobs(self) -> list[dict[str, Any]]:
        return [s.to_dict() or {} for s in self.db.collection("jobs").stream()]

    def results(self) -> list[Any]:
        return list(self.storage.list_blobs(self.stack.results_bucket))

    def bridge_stats(self) -> dict[str, int]:
        return dict(self.http.get(self.stack.url("bridge"), timeout=10).json())

    def finished_events(self) -> Counter[tuple[str, str]]:
        """(event, job log reference) of every terminal record the process function wrote."""
        counts: Counter[tuple[str, str]] = Counter()
        log = self.stack.log_dir / "process.log"
        for line in log.read_text(errors="replace").splitlines():
            if not line.startswith("{"):
                continue
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("event") in ("job.done", "job.failed"):
                counts[(event["event"], str(event.get("job")))] += 1
        return counts


def _kill_and_restart(stack: Stack) -> None:
    """A crash, not a shutdown: SIGKILL to the function's own process group, then start again."""
    proc = stack.procs["process"]
    if proc.pid is not None:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    stack.restart("process")


def _upload_all(
    harness: Harness,
    items: list[Item],
    *,
    kills: int,
    concurrency: int,
    report: Report,
    say: Callable[[str], None],
) -> list[Sent]:
    """Send every item from `concurrency` clients; kill the processor at evenly spaced points."""
    kill_at = [len(items) * (i + 1) // (kills + 1) for i in range(kills)]
    kill_events = [threading.Event() for _ in kill_at]
    uploaded = 0
    lock = threading.Lock()

    def send(item: Item) -> Sent:
        nonlocal uploaded
        sent = harness.send(item)
        with lock:
            uploaded += 1
            for at, ev in zip(kill_at, kill_events, strict=True):
                if uploaded == at:
                    ev.set()
        return sent

    def killer() -> None:
        for ev in kill_events:
            ev.wait()
            say(f"killing the process function after {uploaded} uploads")
            _kill_and_restart(harness.stack)
            report.kills += 1

    kill_thread = threading.Thread(target=killer, daemon=True)
    kill_thread.start()
    with ThreadPoolExecutor(concurrency) as pool:
        sent = list(pool.map(send, items))
    kill_thread.join()
    report.problems.extend(f"upload of {s.item.label} failed: {s.error}" for s in sent if s.error)
    return sent


def _wait_for_outcomes(
    harness: Harness, sent: list[Sent], give_up_after: float
) -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    """Poll until every object has a terminal job; the bound only ends a broken run."""
    deadline = time.monotonic() + give_up_after
    while True:
        jobs = harness.all_jobs()
        by_object: dict[str, list[dict[str, Any]]] = {}
        for job in jobs:
            by_object.setdefault(job.get("source", {}).get("name", ""), []).append(job)
        # Terminal and its outcome published (the record is marked after the publish).
        pending = [
            s
            for s in sent
            if not s.error
            and not any(
                j.get("status") in TERMINAL and j.get("outcome_published")
                for j in by_object.get(s.object_name, [])
            )
        ]
        if not pending or time.monotonic() > deadline:
            return jobs, by_object
        time.sleep(0.5)


def _measure(
    report: Report,
    sent: list[Sent],
    by_object: dict[str, list[dict[str, Any]]],
    jobs: list[dict[str, Any]],
    started_at: dt.datetime,
) -> None:
    # upload->done: from the moment the object was in the bucket to the terminal record.
    latencies = sorted(
        (j["finished_at"] - s.uploaded_at).total_seconds()
        for s in sent
        if s.uploaded_at
        for j in by_object.get(s.object_name, [])[:1]
        if j.get("finished_at")
    )
    if latencies:
        report.latency_p50_s = round(statistics.median(latencies), 3)
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        report.latency_p99_s = round(p99, 3)
        report.latency_max_s = round(latencies[-1], 3)
    attempts: Counter[str] = Counter(str(j.get("attempts", 0)) for j in jobs)
    report.attempts = dict(sorted(attempts.items()))
    per_label: dict[str, list[float]] = {}
    for s in sent:
        for j in by_object.get(s.object_name, [])[:1]:
            total = (j.get("timings_ms") or {}).get("total")
            if total is not None:
                per_label.setdefault(f"{s.item.label}:{j.get('status')}", []).append(total)
    report.processing_p50_ms = {
        k: round(statistics.median(v), 1) for k, v in sorted(per_label.items())
    }
    last = max((j["finished_at"] for j in jobs if j.get("finished_at")), default=None)
    if last is not None:
        span = (last - started_at).total_seconds()
        report.throughput_per_s = round(len(latencies) / span, 2) if span > 0 else 0.0


def run(
    stack: Stack,
    *,
    uploads: int,
    drops: int,
    invalid_share: float = 0.25,
    kills: int = 1,
    concurrency: int = 16,
    large: bool = False,
    seed: int = 1,
    give_up_after: float = 900.0,
    progress: Callable[[str], None] | None = None,
) -> Report:
    say = progress or (lambda _msg: None)
    items = plan(uploads, drops, invalid_share, large=large, seed=seed)
    harness = Harness(stack)
    report = Report(uploads=uploads, drops=drops)
    started = time.monotonic()
    started_at = dt.datetime.now(dt.UTC)
    sent = _upload_all(harness, items, kills=kills, concurrency=concurrency, report=report, say=say)
    report.upload_seconds = round(time.monotonic() - started, 2)
    say(f"{len(sent)} objects uploaded in {report.upload_seconds}s")
    jobs, by_object = _wait_for_outcomes(harness, sent, give_up_after)
    report.seconds = round(time.monotonic() - started, 2)
    _check(report, harness, sent, by_object, jobs)
    _check_outcome_messages(report, jobs, harness.outcomes.drain())
    harness.outcomes.close()
    _measure(report, sent, by_object, jobs, started_at)
    report.bridge = harness.bridge_stats()
    return report


def _check_job(sent: Sent, found: list[dict[str, Any]], problems: list[str]) -> str:
    """Problems of one object's job; returns its status ("" when there is not exactly one)."""
    where = f"{sent.object_name} ({sent.item.label})"
    if len(found) != 1:
        problems.append(f"{where}: {len(found)} jobs (want exactly 1)")
        return ""
    job = found[0]
    status = str(job.get("status"))
    if status not in TERMINAL:
        problems.append(f"{where}: lost, still {status!r}")
    elif status != sent.item.expect:
        problems.append(f"{where}: {status} {job.get('error')}, want {sent.item.expect}")
    if sent.job_id is not None and job.get("id") != sent.job_id:
        problems.append(f"{where}: job id {job.get('id')} != {sent.job_id}")
    if sent.item.kind == "drop" and job.get("origin") != "drop":
        problems.append(f"{where}: origin {job.get('origin')!r}")
    if status == "failed" and not (job.get("error") or {}).get("code"):
        problems.append(f"{where}: failed without an error code")
    return status


def _check(
    report: Report,
    harness: Harness,
    sent: list[Sent],
    by_object: dict[str, list[dict[str, Any]]],
    jobs: list[dict[str, Any]],
) -> None:
    problems = report.problems
    outcomes: Counter[str] = Counter()
    expected_results: dict[str, tuple[str, int]] = {}
    delivered = [s for s in sent if not s.error]
    for s in delivered:
        found = by_object.get(s.object_name, [])
        status = _check_job(s, found, problems)
        outcomes[f"{s.item.kind}:{status or 'ambiguous'}"] += 1
        if status == "done":
            res = found[0]["result"]
            expected_results[res["name"]] = (found[0]["id"], res["bytes"])
    report.outcomes = dict(outcomes)
    if len(jobs) != len(delivered):
        problems.append(f"{len(jobs)} job documents for {len(delivered)} objects")

    # Results: exactly the ones the done records name, each once, of the recorded size.
    per_job: Counter[str] = Counter()
    for blob in harness.results():
        # r/{id}/{generation}.{ext} for API jobs, the drop's own name + extension for drops.
        want = expected_results.get(blob.name)
        if want is None:
            problems.append(f"orphan result {blob.name}")
            continue
        per_job[want[0]] += 1
        if blob.size != want[1]:
            problems.append(f"{blob.name}: {blob.size} bytes, record says {want[1]}")
    for name, (job_id, _size) in expected_results.items():
        if per_job[job_id] != 1:
            problems.append(f"job {job_id}: {per_job[job_id]} result objects (want 1, {name})")

    # One terminal record per job, across duplicates, delays and the killed instance.
    per_record: Counter[str] = Counter()
    for (_event, job_id), n in harness.finished_events().items():
        per_record[job_id] += n
    problems.extend(f"job {j}: {n} terminal records" for j, n in per_record.items() if n != 1)


def _check_outcome_messages(
    report: Report, jobs: list[dict[str, Any]], messages: list[Any]
) -> None:
    """One message per terminal record (docs/JOBS.md, "Outcome messages"), each matching its
    record; a repeat (same key) only where a kill could have cut between publish and mark."""
    records = {f"{j['id']}:{j['generation']}:0": j for j in jobs if j.get("status") in TERMINAL}
    per_key: Counter[str] = Counter(m.attributes.get("outcome_key", "") for m in messages)
    for key, job in records.items():
        if per_key[key] == 0:
            report.problems.append(f"job {job['id']}: no outcome message")
    for message in messages:
        job = records.get(message.attributes.get("outcome_key", ""))
        if job is None:
            report.problems.append(f"outcome message {message.attributes} names no record")
        elif message.body.get("status") != job["status"]:
            report.problems.append(f"job {job['id']}: message says {message.body.get('status')}")
    report.outcome_messages = len(messages)
    report.outcome_duplicates = sum(n - 1 for n in per_key.values() if n > 1)
    if report.outcome_duplicates > report.kills:
        report.problems.append(
            f"{report.outcome_duplicates} repeated outcome messages for {report.kills} kills"
        )


@contextmanager
def fault_stack(state_dir: Path, *, faults: bool = True) -> Iterator[Stack]:
    """A stack of its own; with `faults=False` the same stack without injected faults, as a
    baseline for the numbers."""
    bridge_args = [*FAULT_BRIDGE_ARGS, "--seed=11"] if faults else ["--workers=8"]
    stack = Stack(
        state_dir,
        env={},
        process_env=FAULT_PROCESS_ENV,
        bridge_args=bridge_args,
    )
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()
