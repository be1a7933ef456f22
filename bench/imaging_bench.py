"""Imaging benchmark (``make bench``): median time and peak memory per operation and size,
as ratios against (a) the codec floor and (b) the original service's way, measured in one run.

* codec floor: decode to colour + encode JPEG q85, nothing else.
* baseline: what the original service did: decode, Haar cascade on the full-resolution gray
  image, mosaic each face by shrinking it to 1/10 and enlarging it back, encode.

Each (size, variant) runs in a fresh subprocess so peak memory is its own: after imports and a
warm-up the kernel's peak-RSS counter is reset (/proc/self/clear_refs), one call runs, and the
peak above the post-warm-up RSS is reported, as a multiple of the decoded colour image (W*H*3).

Usage: python -m bench.imaging_bench [--sizes 1,12,48] [--repeat 3] [--out bench/RESULTS.md]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".local" / "cache" / "bench"
SIZES = {1: (1152, 864), 12: (4000, 3000), 48: (8000, 6000)}
VARIANTS = (
    "codec_floor",
    "grayscale",
    "mosaic_faces",
    "mosaic_faces_min64",
    "blur_faces",
    "redact_faces",
    "mosaic",
    "resize_2048",
    "baseline_grayscale",
    "baseline_mosaic_faces",
)


def make_photo(mp: int) -> Path:
    """A camera-like JPEG: a real scene scaled up, sensor-like noise, ten faces of 30-400 px."""
    sys.path.insert(0, str(ROOT))
    from tests.imaging import dataset

    path = CACHE / f"photo_{mp}mp.jpg"
    if path.exists():
        return path
    w, h = SIZES[mp]
    canvas = cv2.resize(dataset.load("building.jpg"), (w, h), interpolation=cv2.INTER_CUBIC)
    rng = np.random.default_rng(mp)
    noise = rng.normal(0, 6, canvas.shape).astype(np.float32)
    canvas = np.clip(canvas.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    scale = w / 4000
    for k in range(10):
        src = dataset.SOURCES[k % len(dataset.SOURCES)]
        face_h = int((30 + 40 * k) * scale) + 16
        centre = (rng.uniform(0.1, 0.9) * w, rng.uniform(0.15, 0.85) * h)
        box = dataset.REAL_FACES[src][0]
        dataset._paste(canvas, dataset.load(src), box, face_h=face_h, angle=0.0, centre=centre)
    CACHE.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    path.write_bytes(buf.tobytes())
    return path


# ---- what runs inside the measuring subprocess ----------------------------------------------


def _variant(name: str) -> Callable[[bytes], bytes]:
    import imaging

    def codec_floor(data: bytes) -> bytes:
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        return bytes(cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 85])[1])

    def baseline_grayscale(data: bytes) -> bytes:
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        return bytes(cv2.imencode(".jpg", gray, [cv2.IMWRITE_JPEG_QUALITY, 85])[1])

    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")

    def baseline_mosaic_faces(data: bytes) -> bytes:
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        for x, y, w, h in cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5):
            face = img[y : y + h, x : x + w]
            small = cv2.resize(face, (max(1, w // 10), max(1, h // 10)))
            img[y : y + h, x : x + w] = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
        return bytes(cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 85])[1])

    def op(ops: list[str], **opts: object) -> Callable[[bytes], bytes]:
        options = imaging.Options(**opts)  # type: ignore[arg-type]
        return lambda data: imaging.process_image(data, ops, options).data

    table: dict[str, Callable[[bytes], bytes]] = {
        "codec_floor": codec_floor,
        "baseline_grayscale": baseline_grayscale,
        "baseline_mosaic_faces": baseline_mosaic_faces,
        "grayscale": op(["grayscale"]),
        "mosaic_faces": op(["mosaic_faces"]),
        "mosaic_faces_min64": op(["mosaic_faces"], min_face=64),
        "blur_faces": op(["blur_faces"]),
        "redact_faces": op(["redact_faces"]),
        "mosaic": op(["mosaic"]),
        "resize_2048": op(["resize"], max_side=2048),
    }
    return table[name]


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(field)


def child(name: str, path: str, repeat: int) -> None:
    data = Path(path).read_bytes()
    fn = _variant(name)
    warm = cv2.imencode(".jpg", np.zeros((300, 400, 3), np.uint8))[1].tobytes()
    fn(warm)  # load models and code paths outside the measurement
    Path("/proc/self/clear_refs").write_text("5")
    base = _status_kib("VmRSS")
    fn(data)
    peak = _status_kib("VmHWM") - base
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn(data)
        times.append(time.perf_counter() - t)
    print(json.dumps({"median": statistics.median(times), "peak_kib": peak}))


# ---- driver ------------------------------------------------------------------------------------


def measure(name: str, path: Path, repeat: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.imaging_bench", "--child", name, str(path), str(repeat)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", default="1,12,48")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md")
    p.add_argument("--child", nargs=3, metavar=("VARIANT", "PATH", "REPEAT"))
    args = p.parse_args()
    if args.child:
        child(args.child[0], args.child[1], int(args.child[2]))
        return
    rows = []
    for mp in (int(s) for s in args.sizes.split(",")):
        path = make_photo(mp)
        w, h = SIZES[mp]
        decoded_kib = w * h * 3 / 1024
        results = {}
        for name in VARIANTS:
            if mp >= 48 and name in ("blur_faces", "redact_faces"):
                continue  # same detection as mosaic_faces; at 48 MP one face op says enough
            # At 48 MP one call takes tens of seconds: one timed run is enough for the point.
            repeat = 1 if mp >= 48 else args.repeat
            results[name] = measure(name, path, repeat)
            print(mp, name, results[name], flush=True)
        floor = results["codec_floor"]["median"]
        for name in VARIANTS:
            if name not in results:
                continue
            r = results[name]
            baseline = results.get(
                "baseline_mosaic_faces" if "faces" in name else "baseline_grayscale", r
            )["median"]
            rows.append(
                f"| {mp} MP | {name} | {r['median'] * 1000:.0f} | {r['median'] / floor:.2f}x "
                f"| {r['median'] / baseline:.2f}x | {r['peak_kib'] / 1024:.0f} "
                f"| {r['peak_kib'] / decoded_kib:.2f}x |"
            )
    header = [
        "# Imaging benchmark",
        "",
        f"`make bench` on this machine ({_cpu()}), {time.strftime('%Y-%m-%d')}. Median of "
        f"{args.repeat} runs (1 at 48 MP); peak memory is the RSS growth of one call "
        "over a warmed-up process, as a multiple of the decoded colour image (W x H x 3 bytes). "
        "Ratios: against the codec floor (decode + JPEG q85 encode) and against the original "
        "service's way (Haar on the full-resolution image, mosaic by shrink-and-enlarge; for "
        "grayscale: colour decode, convert, encode). Default `min_face` is 24 px (recall first); "
        "`mosaic_faces_min64` is the same operation with `min_face=64`.",
        "",
        "| size | operation | median ms | vs codec floor | vs original way | peak MiB "
        "| peak / decoded |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    args.out.write_text("\n".join(header + rows) + "\n" + NOTES)
    print(args.out.read_text())


NOTES = """
Notes:
- grayscale decodes JPEG straight to gray and writes a one-channel JPEG: 0.6-0.75x the colour
  codec floor. A leading resize lets libjpeg decode at 1/2..1/8 scale (48 MP: 0.5x).
- Face operations are dominated by detection: CenterFace run by onnxruntime (cv2.dnn before
  2026-11-24: 1076 / 12822 / 45544 ms at 1 / 12 / 48 MP, now about 1.5 / 2.2 / 1.6x faster,
  same detections). With the default `min_face=24` the finest pyramid level is the photo at
  1.5x in 640 px tiles (130 tiles at 12 MP): 60-80x the codec floor, far from the 1.6x
  target, which no detector pass that can see 24 px faces in a 12 MP photo meets on 2 cores.
  `min_face=64` is about 5-6x cheaper (0.4-0.7x the original Haar way, which misses rotated,
  dark and small faces and has false positives).
- Peak memory excludes the model itself, loaded once per process and shared by threads. The
  warm-up image is small (one tile padded to 608 x 480), so onnxruntime's buffers for
  640 x 640 tiles (~60 MB, allocated once per process, then reused) are counted in the face
  operations' peak: 3.7-4.7x the decoded image at 12 MP, 2.6-2.8x at 48 MP (with cv2.dnn,
  whose one 640 x 640 shape the warm-up allocated, it measured 2.0-2.6x); the Haar way ~20x.
- This run shared the 2 cores with other jobs (load average 2.5-3), so times are upper bounds.
"""


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cores = len(os.sched_getaffinity(0))
                return f"{line.split(':', 1)[1].strip()}, {cores} cores"
    except OSError:
        pass
    return "unknown CPU"


if __name__ == "__main__":
    main()
