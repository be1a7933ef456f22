"""Measure what the process function needs per image: peak memory and seconds on one vCPU.

    .venv/bin/python infra/sizing/measure.py [--megapixels 12 48] [--ops mosaic_faces grayscale]

Each case runs in a child process pinned to one CPU (`taskset`, like a 1-vCPU instance) that
first imports what the deployed function imports (functions-framework, the Cloud Storage and
Firestore clients, imaging), then decodes, processes and encodes one JPEG of the given size.
The child reports its peak resident set size (VmHWM), which is what the
instance's memory limit is measured against, and the wall and CPU time of process_image. On a
shared machine the CPU seconds (pinned to one CPU) are the honest estimate of the wall time on
a dedicated vCPU; the wall time only shows the contention. The test
image is a photo-like JPEG (quality 90) built from the cached scikit-image pictures if
.local/cache/skimage exists (faces included), else from smooth noise.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]

_CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
def hwm_mib():
    # VmHWM is this process's own peak RSS. ru_maxrss would not do: Linux carries the
    # parent's peak across fork+exec, and the parent held the generated photo.
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
import functions_framework  # noqa: F401  - the deployed process imports these first
from google.cloud import firestore, storage  # noqa: F401
import imaging
baseline = hwm_mib()
data = open(sys.argv[2], "rb").read()
ops = sys.argv[3].split(",")
limits = imaging.Limits(max_bytes=200_000_000, max_pixels=60_000_000)
t0, c0 = time.perf_counter(), time.process_time()
result = imaging.process_image(data, ops, limits=limits)
seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
peak = hwm_mib()
timings = {k: round(v, 3) for k, v in result.timings.items()}
print(json.dumps({"baseline_rss_mib": baseline, "peak_rss_mib": peak,
                  "seconds": round(seconds, 3), "cpu_seconds": round(cpu, 3),
                  "output_bytes": len(result.data),
                  "faces": len(result.faces), "timings": timings}))
"""


def make_photo(width: int, height: int, path: Path) -> int:
    rng = np.random.default_rng(7)
    cache = ROOT / ".local" / "cache" / "skimage"
    read = [cv2.imread(str(cache / n)) for n in ("astronaut.png", "coffee.png", "chelsea.png")]
    tiles: list[Any] = [t for t in read if t is not None]
    canvas: Any
    if tiles:
        canvas = np.zeros((height, width, 3), np.uint8)
        side = max(width, height) // 6
        for y in range(0, height, side):
            for x in range(0, width, side):
                tile = cv2.resize(tiles[rng.integers(len(tiles))], (side, side))
                h, w = min(side, height - y), min(side, width - x)
                canvas[y : y + h, x : x + w] = tile[:h, :w]
    else:
        small = rng.integers(0, 255, (height // 64 + 1, width // 64 + 1, 3), dtype=np.uint8)
        canvas = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    # Sensor-like grain, so the JPEG is as large as a camera's and not a smooth toy.
    grain = rng.normal(0, 6, canvas.shape).astype(np.int16)
    canvas = np.clip(canvas.astype(np.int16) + grain, 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    path.write_bytes(buf.tobytes())
    return len(buf)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--megapixels", type=int, nargs="+", default=[12, 48])
    parser.add_argument("--ops", nargs="+", default=["mosaic_faces", "grayscale"])
    parser.add_argument("--cpu", default="0", help="CPU to pin to (taskset -c)")
    args = parser.parse_args()
    pin = ["taskset", "-c", args.cpu] if shutil.which("taskset") else []
    sizes = {12: (4000, 3000), 48: (8000, 6000)}
    with tempfile.TemporaryDirectory() as tmp:
        for mp in args.megapixels:
            width, height = sizes.get(mp, (int((mp * 1e6 * 4 / 3) ** 0.5), 0))
            height = height or int(width * 3 / 4)
            photo = Path(tmp) / f"{mp}mp.jpg"
            size = make_photo(width, height, photo)
            for ops in args.ops:
                proc = subprocess.run(
                    [*pin, sys.executable, "-c", _CHILD, str(ROOT), str(photo), ops],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                row = {"megapixels": mp, "size": f"{width}x{height}", "input_bytes": size}
                row |= {"ops": ops, **json.loads(proc.stdout.strip().splitlines()[-1])}
                print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
