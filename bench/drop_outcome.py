"""Drop -> outcome message latency on the local stack: the time from the start of a direct
bucket drop (a 1 MP JPEG with `ops=grayscale`, written with the storage client) to the moment
a subscriber of the jobs topic receives its `done` message (streaming pull).

Starts a stack of its own (or uses a running one with --stack .local/stack.json):

    .venv/bin/python -m bench.drop_outcome [--repeat 5] [--megapixels 1]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from google.auth.credentials import AnonymousCredentials
from google.cloud import pubsub_v1, storage  # type: ignore[attr-defined]

from bench.stack_latency import make_photo
from devstack.stack import Stack


def measure(urls: dict[str, Any], repeat: int, megapixels: float) -> list[float]:
    os.environ["PUBSUB_EMULATOR_HOST"] = urls["pubsub"]
    os.environ["STORAGE_EMULATOR_HOST"] = urls["storage"]
    project = urls["project"]
    photo = make_photo(megapixels)
    client = storage.Client(project=project, credentials=AnonymousCredentials())
    uploads = client.bucket(urls["uploads_bucket"])
    subscriber = pubsub_v1.SubscriberClient()
    subscription = subscriber.subscription_path(project, f"bench-{secrets.token_hex(4)}")
    topic = f"projects/{project}/topics/{urls['jobs_topic']}"
    subscriber.create_subscription(request={"name": subscription, "topic": topic})
    arrived: dict[str, float] = {}
    statuses: dict[str, str] = {}
    changed = threading.Condition()

    def received(message: Any) -> None:
        now = time.perf_counter()
        body = json.loads(message.data)
        with changed:
            name = body["source"]["name"]
            arrived.setdefault(name, now)
            statuses[name] = body["status"]
            changed.notify_all()
        message.ack()

    future = subscriber.subscribe(subscription, callback=received)
    times = []
    try:
        for _ in range(repeat + 1):  # the first one warms the instance up and is not counted
            name = f"bench/{secrets.token_hex(6)}/photo.jpg"
            blob = uploads.blob(name)
            blob.metadata = {"ops": "grayscale"}
            started = time.perf_counter()
            blob.upload_from_string(photo, content_type="image/jpeg")
            with changed:
                if not changed.wait_for(lambda n=name: n in arrived, timeout=300):  # type: ignore[misc]
                    raise RuntimeError("no outcome message within 300 s")
            assert statuses[name] == "done", statuses[name]
            times.append(arrived[name] - started)
    finally:
        future.cancel()
        subscriber.delete_subscription(request={"subscription": subscription})
        subscriber.close()
    return times[1:]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--megapixels", type=float, default=1.0)
    parser.add_argument("--stack", type=Path, help="stack.json of a running stack")
    args = parser.parse_args()
    if args.stack:
        times = measure(json.loads(args.stack.read_text()), args.repeat, args.megapixels)
    else:
        with tempfile.TemporaryDirectory() as state:
            stack = Stack(Path(state), env={})
            try:
                times = measure(stack.start(), args.repeat, args.megapixels)
            finally:
                stack.stop()
    print(
        json.dumps(
            {
                "megapixels": args.megapixels,
                "ops": ["grayscale"],
                "drop_to_outcome_s": [round(t, 3) for t in times],
                "median_s": round(statistics.median(times), 3),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
