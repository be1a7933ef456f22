"""The local Eventarc: pull messages from a Pub/Sub subscription, POST them as CloudEvents.

Two kinds of trigger, one per bridge process (`--kind`):

- `storage` (default): the storage emulator's notifications become the binary-mode CloudEvent
  Eventarc delivers in production for `google.cloud.storage.object.v1.finalized`. Only events of
  the uploads bucket (`--bucket`) are delivered, as the production trigger's bucket filter does.
- `pubsub`: every message of a topic (`--topic`, e.g. REVISIONS_TOPIC) becomes the CloudEvent of
  an Eventarc Pub/Sub trigger, `google.cloud.pubsub.topic.v1.messagePublished`, whose data is
  `{"message": {data (base64), attributes, messageId, publishTime}, "subscription"}`.

A 2xx answer acks the message; anything else (or no answer) nacks it with a growing delay, which
is Eventarc's retry-with-backoff.

Fault injection (off by default; the fault tests and bench/fault_load.py turn it on) plays the
at-least-once delivery Eventarc promises: `--duplicate-rate` sends some events twice (at the same
moment, or up to `--duplicate-max-delay` seconds later), `--delay-rate` holds some events back up
to `--max-delay` seconds (so they arrive late and out of order), and `--lose-ack-rate` drops the
ack of some successful deliveries, so Pub/Sub delivers them again after the backoff.
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests
from google.api_core import exceptions as gexc
from google.cloud import pubsub_v1  # type: ignore[attr-defined]

from gazokako.ids import api_job_of, log_ref
from gazokako.logs import log_event

EVENT_TYPE = "google.cloud.storage.object.v1.finalized"
PUBSUB_EVENT_TYPE = "google.cloud.pubsub.topic.v1.messagePublished"
KINDS = ("storage", "pubsub")


def object_log_refs(name: object) -> tuple[str | None, str | None]:
    """How a log line names an object, as (job, object_ref): never by its name (an API
    upload's name holds its job id), but by the job's log reference, or else a digest of a
    dropped object's name. The other is None, which log_event leaves out."""
    text = str(name or "")
    job_id = api_job_of(text)
    return (log_ref(job_id), None) if job_id else (None, log_ref(text))


def cloudevent_for(
    message_id: str, publish_time: datetime, data: Mapping[str, Any]
) -> dict[str, str]:
    """The ce-* headers Eventarc sets for a finalized object (binary content mode)."""
    bucket = str(data["bucket"])
    return {
        "ce-specversion": "1.0",
        "ce-id": message_id,
        "ce-time": _rfc3339(publish_time),
        "ce-type": EVENT_TYPE,
        "ce-source": f"//storage.googleapis.com/projects/_/buckets/{bucket}",
        "ce-subject": f"objects/{data['name']}",
        "ce-bucket": bucket,
        "Content-Type": "application/json",
    }


def storage_object_json(data: Mapping[str, Any]) -> dict[str, Any]:
    """The object resource as Eventarc sends it: int64 fields are JSON strings."""
    body = dict(data)
    for key in ("generation", "metageneration", "size"):
        if key in body and body[key] is not None:
            body[key] = str(body[key])
    body.setdefault("kind", "storage#object")
    return body


def _rfc3339(stamp: datetime) -> str:
    return stamp.astimezone(UTC).isoformat().replace("+00:00", "Z")


def pubsub_cloudevent(
    message_id: str,
    publish_time: datetime,
    payload: bytes,
    attributes: Mapping[str, str],
    *,
    topic: str,
    subscription: str,
) -> tuple[dict[str, Any], dict[str, str]]:
    """(data, ce-* headers) of the CloudEvent an Eventarc Pub/Sub trigger delivers for one
    message of `topic` (projects/P/topics/T), in binary content mode."""
    when = _rfc3339(publish_time)
    message = {
        "data": base64.b64encode(payload).decode(),
        "attributes": dict(attributes),
        "messageId": message_id,
        "message_id": message_id,
        "publishTime": when,
        "publish_time": when,
    }
    headers = {
        "ce-specversion": "1.0",
        "ce-id": message_id,
        "ce-time": when,
        "ce-type": PUBSUB_EVENT_TYPE,
        "ce-source": f"//pubsub.googleapis.com/{topic}",
        "Content-Type": "application/json",
    }
    return {"message": message, "subscription": subscription}, headers


def message_job_ref(payload: bytes) -> str | None:
    """How a log line names the job a message is about (its `id` field), never by the id."""
    try:
        body = json.loads(payload)
    except ValueError:
        return None
    job_id = body.get("id") if isinstance(body, dict) else None
    return log_ref(job_id) if isinstance(job_id, str) and job_id else None


@dataclass(frozen=True)
class Event:
    """One delivery: the body and headers to POST, and how its log lines name it."""

    data: dict[str, Any]
    headers: dict[str, str]
    ce_type: str
    bucket: str | None = None
    job: str | None = None
    object_ref: str | None = None
    generation: object = None


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: dict[str, int] = {
            "delivered": 0,
            "acked": 0,
            "nacked": 0,
            "skipped": 0,
            "in_flight": 0,
            "duplicated": 0,
            "delayed": 0,
            "acks_lost": 0,
            "unreachable": 0,
        }

    def add(self, key: str, n: int = 1) -> None:
        with self._lock:
            self.counts[key] = self.counts.get(key, 0) + n

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)


@dataclass(frozen=True)
class Faults:
    """Probabilities (0..1) and delays (seconds) of the injected delivery faults."""

    duplicate_rate: float = 0.0
    duplicate_max_delay: float = 0.0
    delay_rate: float = 0.0
    max_delay: float = 0.0
    lose_ack_rate: float = 0.0
    seed: int | None = None

    def __post_init__(self) -> None:
        for name in ("duplicate_rate", "delay_rate", "lose_ack_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        if self.max_delay < 0 or self.duplicate_max_delay < 0:
            raise ValueError("delays must not be negative")


class Breaker:
    """One pause for all deliveries while the function cannot be reached at all.

    A restarting or crashed function refuses connections; without this, every pulled message
    would fail and retry on its own (a retry storm). When a connection is refused the breaker
    opens: deliveries wait, then a single probe goes through after a pause that doubles (up to
    10 s) with each refused probe; the first answer of any status closes it again.
    """

    MIN_PAUSE = 0.25
    MAX_PAUSE = 10.0

    def __init__(self, stats: Stats) -> None:
        self._lock = threading.Lock()
        self._stats = stats
        self._pause = 0.0  # 0 while closed
        self._resume_at = 0.0
        self._probe: int | None = None  # thread id of the delivery probing, if any

    def _open_for(self, now: float) -> bool:
        return self._pause > 0 and (now < self._resume_at or self._probe is not None)

    def wait_until_closed(self) -> None:
        """For the pull loop: pull no more while the breaker is open."""
        while True:
            with self._lock:
                if not self._open_for(time.monotonic()):
                    return
            time.sleep(0.05)

    def wait_for_turn(self) -> None:
        """For a delivery: go when closed, or as the one probe once the pause is over."""
        me = threading.get_ident()
        while True:
            with self._lock:
                now = time.monotonic()
                if self._pause == 0:
                    return
                if now >= self._resume_at and self._probe is None:
                    self._probe = me
                    return
            time.sleep(0.05)

    def record(self, *, reachable: bool) -> None:
        me = threading.get_ident()
        with self._lock:
            if reachable:
                self._pause, self._probe = 0.0, None
                return
            self._stats.add("unreachable")
            if self._pause == 0 or self._probe == me:
                # Refusals of deliveries that started before the breaker opened change nothing.
                self._pause = min(max(self._pause * 2, self.MIN_PAUSE), self.MAX_PAUSE)
                self._resume_at = time.monotonic() + self._pause
                self._probe = None


class Bridge:
    def __init__(
        self,
        *,
        subscription: str,
        target: str,
        bucket: str = "",
        kind: str = "storage",
        topic: str = "",
        workers: int = 8,
        min_backoff: float = 1.0,
        max_backoff: float = 60.0,
        delivery_timeout: float = 300.0,
        faults: Faults | None = None,
    ) -> None:
        self.subscriber = pubsub_v1.SubscriberClient()
        self.subscription = subscription
        self.target = target
        if (
            kind not in KINDS
            or (kind == "storage" and not bucket)
            or (kind == "pubsub" and not topic)
        ):
            raise ValueError("a storage bridge needs a bucket, a pubsub bridge a topic")
        self.bucket = bucket
        self.kind = kind
        self.topic = topic
        self.pool = ThreadPoolExecutor(max_workers=workers)
        self.slots = threading.Semaphore(workers)
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.delivery_timeout = delivery_timeout
        self.http = requests.Session()
        self.stats = Stats()
        self.stopping = threading.Event()
        self._attempt_counts: dict[str, int] = {}
        self._attempt_lock = threading.Lock()
        self.faults = faults or Faults()
        self.breaker = Breaker(self.stats)
        self._random = random.Random(self.faults.seed)  # noqa: S311 - fault dice, not secrets
        self._random_lock = threading.Lock()

    def _roll(self, rate: float) -> bool:
        if rate <= 0:
            return False
        with self._random_lock:
            return self._random.random() < rate

    def _uniform(self, upper: float) -> float:
        with self._random_lock:
            return self._random.uniform(0.0, upper)

    def run(self) -> None:
        while not self.stopping.is_set():
            self.breaker.wait_until_closed()
            try:
                response = self.subscriber.pull(
                    request={"subscription": self.subscription, "max_messages": 8}, timeout=10
                )
            except (gexc.DeadlineExceeded, gexc.ServiceUnavailable):
                continue
            for received in response.received_messages:
                if self._roll(self.faults.delay_rate):
                    # Held back without taking a worker, so later events overtake it.
                    self.stats.add("delayed")
                    timer = threading.Timer(
                        self._uniform(self.faults.max_delay), self._submit, args=(received,)
                    )
                    timer.daemon = True
                    timer.start()
                else:
                    self._submit(received)

    def _submit(self, received: Any) -> None:
        self.slots.acquire()
        self.stats.add("in_flight")
        self.pool.submit(self._deliver_and_release, received)

    def _deliver_and_release(self, received: Any) -> None:
        try:
            self.deliver(received)
        except Exception as exc:  # a bridge bug must not kill the loop; redeliver instead
            log_event("bridge.error", severity="ERROR", error=type(exc).__name__)
            self._nack(received, 1)
        finally:
            self.stats.add("in_flight", -1)
            self.slots.release()

    def event_for(self, msg: Any) -> Event | None:
        """The CloudEvent this bridge's trigger makes of a message; None: not for this trigger."""
        if self.kind == "pubsub":
            data, headers = pubsub_cloudevent(
                msg.message_id,
                msg.publish_time,
                bytes(msg.data),
                dict(msg.attributes),
                topic=self.topic,
                subscription=self.subscription,
            )
            return Event(data, headers, PUBSUB_EVENT_TYPE, job=message_job_ref(bytes(msg.data)))
        attrs = dict(msg.attributes)
        if attrs.get("eventType") != "OBJECT_FINALIZE" or attrs.get("bucketId") != self.bucket:
            return None
        data = storage_object_json(json.loads(msg.data))
        headers = cloudevent_for(msg.message_id, msg.publish_time, data)
        job, object_ref = object_log_refs(data.get("name"))
        return Event(
            data,
            headers,
            EVENT_TYPE,
            bucket=str(data.get("bucket")),
            job=job,
            object_ref=object_ref,
            generation=data.get("generation"),
        )

    def deliver(self, received: Any) -> None:
        msg = received.message
        event = self.event_for(msg)
        if event is None:
            self.stats.add("skipped")
            self._ack(received)
            return
        if self._roll(self.faults.duplicate_rate):
            self.stats.add("duplicated")
            delay = self._uniform(self.faults.duplicate_max_delay)
            # Started before the real delivery, so with no delay the two arrive together.
            threading.Thread(target=self._duplicate, args=(event, delay), daemon=True).start()
        started = time.perf_counter()
        status = self._post(event.data, event.headers)
        ok = status is not None and 200 <= status < 300
        self.stats.add("delivered")
        log_event(
            "bridge.delivery",
            severity="INFO" if ok else "WARNING",
            message_id=msg.message_id,
            ce_type=event.ce_type,
            bucket=event.bucket,
            job=event.job,
            object_ref=event.object_ref,
            generation=event.generation,
            status=status,
            outcome="ack" if ok else "nack",
            ms=round((time.perf_counter() - started) * 1000, 1),
        )
        if ok and self._roll(self.faults.lose_ack_rate):
            self.stats.add("acks_lost")
            ok = False
        if ok:
            self._ack(received)
        else:
            self._nack(received, self._attempts(msg.message_id))

    def _post(self, data: Mapping[str, Any], headers: Mapping[str, str]) -> int | None:
        self.breaker.wait_for_turn()
        try:
            resp = self.http.post(
                self.target,
                data=json.dumps(data),
                headers=dict(headers),
                timeout=self.delivery_timeout,
            )
        except requests.ConnectionError as exc:
            self.breaker.record(reachable=False)
            log_event("bridge.unreachable", severity="WARNING", error=repr(exc))
            return None
        except requests.RequestException as exc:
            # It answered too slowly or badly, but it is there: the message's own backoff applies.
            self.breaker.record(reachable=True)
            log_event("bridge.delivery_error", severity="WARNING", error=repr(exc))
            return None
        except BaseException:
            self.breaker.record(reachable=True)  # never leave a probe hanging
            raise
        self.breaker.record(reachable=True)
        return resp.status_code

    def _duplicate(self, event: Event, delay: float) -> None:
        if delay > 0:
            time.sleep(delay)
        status = self._post(event.data, event.headers)
        # The copy's answer decides nothing: the original delivery acks or nacks the message.
        log_event(
            "bridge.duplicate",
            message_id=event.headers.get("ce-id"),
            job=event.job,
            object_ref=event.object_ref,
            generation=event.generation,
            status=status,
            delay_s=round(delay, 3),
        )

    def _attempts(self, message_id: str) -> int:
        with self._attempt_lock:
            n = self._attempt_counts.get(message_id, 0) + 1
            self._attempt_counts[message_id] = n
            return n

    def _ack(self, received: Any) -> None:
        self.stats.add("acked")
        with self._attempt_lock:
            self._attempt_counts.pop(received.message.message_id, None)
        self.subscriber.acknowledge(
            request={"subscription": self.subscription, "ack_ids": [received.ack_id]}
        )

    def _nack(self, received: Any, attempt: int) -> None:
        # Redelivery after a growing delay, not at once: a failing function must not be hammered.
        delay = min(self.min_backoff * 2 ** (attempt - 1), self.max_backoff)
        self.stats.add("nacked")
        self.subscriber.modify_ack_deadline(
            request={
                "subscription": self.subscription,
                "ack_ids": [received.ack_id],
                "ack_deadline_seconds": max(int(delay), 0),
            }
        )


def serve_status(bridge: Bridge, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(bridge.stats.snapshot()).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscription", required=True, help="projects/P/subscriptions/S")
    parser.add_argument("--target", required=True, help="the process function's URL")
    parser.add_argument("--kind", choices=KINDS, default="storage", help="the trigger's kind")
    parser.add_argument("--bucket", default="", help="storage: deliver only this bucket's events")
    parser.add_argument("--topic", default="", help="pubsub: the topic (projects/P/topics/T)")
    parser.add_argument("--status-port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--min-backoff", type=float, default=1.0)
    parser.add_argument("--max-backoff", type=float, default=60.0)
    faults = parser.add_argument_group("fault injection (off by default)")
    faults.add_argument("--duplicate-rate", type=float, default=0.0)
    faults.add_argument("--duplicate-max-delay", type=float, default=0.0)
    faults.add_argument("--delay-rate", type=float, default=0.0)
    faults.add_argument("--max-delay", type=float, default=0.0)
    faults.add_argument("--lose-ack-rate", type=float, default=0.0)
    faults.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    bridge = Bridge(
        subscription=args.subscription,
        target=args.target,
        bucket=args.bucket,
        kind=args.kind,
        topic=args.topic,
        workers=args.workers,
        min_backoff=args.min_backoff,
        max_backoff=args.max_backoff,
        faults=Faults(
            duplicate_rate=args.duplicate_rate,
            duplicate_max_delay=args.duplicate_max_delay,
            delay_rate=args.delay_rate,
            max_delay=args.max_delay,
            lose_ack_rate=args.lose_ack_rate,
            seed=args.seed,
        ),
    )
    serve_status(bridge, args.status_port)
    log_event(
        "bridge.started",
        subscription=args.subscription,
        target=args.target,
        faults=vars(bridge.faults),
    )
    bridge.run()


if __name__ == "__main__":
    main()
