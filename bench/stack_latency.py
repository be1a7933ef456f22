"""Upload->done latency of one photo through the local stack, against imaging alone.

Starts a stack of its own (or uses a running one with --stack .local/stack.json), then for each
operation uploads the same 12 MP photo N times through the real path (POST /uploads, signed PUT,
notification, bridge, process function, Firestore) and reports the median upload->done time next
to the median of `imaging.process_image` on the same bytes in this process: the ratio is what the
cloud path costs on top of the image work.

    .venv/bin/python -m bench.stack_latency [--repeat 5] [--megapixels 12]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

import imaging
from devstack.stack import Stack
from tests.support.api import create_upload, put_upload, wait_for_job
from tests.support.corpus import skimage_image


def make_photo(megapixels: float) -> bytes:
    """The astronaut photo scaled up to the asked size, as a camera-like JPEG."""
    img = cv2.imdecode(np.frombuffer(skimage_image("astronaut.png"), np.uint8), cv2.IMREAD_COLOR)
    width = int((megapixels * 1e6 * 4 / 3) ** 0.5)
    height = int(width * 3 / 4)
    big = cv2.resize(img, (width, height), interpolation=cv2.INTER_CUBIC)
    ok, buf = cv2.imencode(".jpg", big, [cv2.IMWRITE_JPEG_QUALITY, 92])
    assert ok
    return buf.tobytes()


def through_stack(api: str, photo: bytes, ops: list[str]) -> float:
    started = time.perf_counter()
    created = create_upload(api, photo, "image/jpeg", ops=ops)
    assert put_upload(created["upload"], photo).status_code == 200
    job = wait_for_job(created["status_url"])
    elapsed = time.perf_counter() - started
    assert job["status"] == "done", job
    return elapsed


def in_process(photo: bytes, ops: list[str]) -> float:
    started = time.perf_counter()
    imaging.process_image(photo, ops)
    return time.perf_counter() - started


def run(urls: dict[str, Any], repeat: int, megapixels: float) -> list[dict[str, Any]]:
    photo = make_photo(megapixels)
    rows = []
    for ops in (["grayscale"], ["mosaic_faces"]):
        through_stack(urls["upload_api"], photo, ops)  # warm the instance, as a live one is
        stack_times = [through_stack(urls["upload_api"], photo, ops) for _ in range(repeat)]
        local_times = [in_process(photo, ops) for _ in range(repeat)]
        s, b = statistics.median(stack_times), statistics.median(local_times)
        rows.append(
            {
                "ops": "+".join(ops),
                "megapixels": megapixels,
                "bytes": len(photo),
                "upload_to_done_s": round(s, 3),
                "imaging_alone_s": round(b, 3),
                "ratio": round(s / b, 2),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stack", type=Path, help="a running stack's stack.json")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--megapixels", type=float, default=12.0)
    args = parser.parse_args()
    if args.stack:
        rows = run(json.loads(args.stack.read_text()), args.repeat, args.megapixels)
    else:
        with tempfile.TemporaryDirectory() as tmp, Stack(Path(tmp), env={}) as stack:
            rows = run(stack.urls, args.repeat, args.megapixels)
    print("| ops | photo | upload→done (median) | imaging alone (median) | ratio |")
    print("| --- | --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| {r['ops']} | {r['megapixels']:g} MP, {r['bytes'] / 1e6:.1f} MB JPEG | "
            f"{r['upload_to_done_s']:.3f} s | {r['imaging_alone_s']:.3f} s | {r['ratio']}× |"
        )


if __name__ == "__main__":
    main()
