"""The labelled face set: real photos from registry packages plus synthetic composites.

Real photos come from scripts/fetch_test_images.py (cached under .local/cache). Composites
paste the real faces, with their hair and a feathered elliptical mask, onto face-free photos
at known sizes, rotations, lighting, blur and JPEG quality, so their face boxes are exact.
"""

from __future__ import annotations

import math
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import fetch_test_images  # noqa: E402

from imaging import models  # noqa: E402

Box = tuple[int, int, int, int]
Image = npt.NDArray[np.uint8]

# Hand-checked boxes (brow to chin, as detectors report them) in upright pixels.
REAL_FACES: dict[str, list[Box]] = {
    "astronaut.png": [(178, 63, 89, 112)],
    "grace_hopper_512x512.jpg": [(182, 104, 169, 213)],
    "camera.png": [(195, 113, 62, 82)],
    "messi5.jpg": [(225, 93, 30, 39)],
    "basketball1.png": [(71, 92, 32, 41)],
    "basketball2.png": [(70, 92, 32, 41)],
    "left06.jpg": [(237, 108, 90, 128)],
    "right06.jpg": [(150, 126, 88, 128)],
}
# Photos with more people than labelled (a blurred crowd, a back of a head): a detection
# there that matches no label is neither a hit nor a false positive.
PARTLY_LABELLED = frozenset({"messi5.jpg", "basketball1.png", "basketball2.png"})

# Face-free photos: textures, animals, food, fabric-like patterns, buildings, a painting.
FACE_FREE = (
    "coffee.png", "chelsea.png", "brick.png", "grass.png", "gravel.png", "rocket.jpg",
    "motorcycle_left.png", "hubble_deep_field.jpg", "coins.png", "moon.png", "horse.png",
    "retina.jpg", "ihc.png", "color.png", "baboon.jpg", "squirrel_cls.jpg", "fruits.jpg",
    "apple.jpg", "orange.jpg", "HappyFish.jpg", "butterfly.jpg", "building.jpg", "home.jpg",
    "starry_night.jpg", "board.jpg", "smarties.png", "aloeL.jpg", "leuvenA.jpg", "graf1.png",
    "box_in_scene.png", "640px-IceBlockNearJoekullsarlon.jpg",
)  # fmt: skip

# Faces used as composite sources (large and sharp enough to scale).
SOURCES = ("astronaut.png", "grace_hopper_512x512.jpg", "camera.png", "left06.jpg", "right06.jpg")
BACKGROUNDS = (
    "brick.png", "grass.png", "gravel.png", "coffee.png", "fruits.jpg", "building.jpg",
    "640px-IceBlockNearJoekullsarlon.jpg", "home.jpg", "aloeL.jpg", "leuvenA.jpg",
)  # fmt: skip


@dataclass(frozen=True)
class Bucket:
    name: str
    face_h: int  # face box height in the composite
    angle: float = 0.0  # degrees; the sign alternates per sample
    canvas: tuple[int, int] = (640, 480)
    dark: bool = False
    blur: bool = False
    jpeg: int | None = None


BUCKETS: tuple[Bucket, ...] = (
    Bucket("size_24", 24),
    Bucket("size_32", 32),
    Bucket("size_48", 48),
    Bucket("size_96", 96),
    Bucket("size_200", 200),
    Bucket("full_frame", 340),
    Bucket("rot_15", 80, angle=15),
    Bucket("rot_30", 80, angle=30),
    Bucket("rot_45", 80, angle=45),
    Bucket("dark", 64, dark=True),
    Bucket("blur", 64, blur=True),
    Bucket("jpeg_q10", 48, jpeg=10),
)
SAMPLES_PER_BUCKET = 6


@dataclass(frozen=True)
class Sample:
    bucket: str
    name: str
    image: Image
    faces: tuple[Box, ...]  # ground truth: axis-aligned box of the rotated inner face
    partly_labelled: bool = False


@cache
def cache_dir() -> Path:
    models.fetch()  # normally done by `make venv`; a no-op when the model is in place
    return fetch_test_images.fetch()


def load(name: str) -> Image:
    img = cv2.imread(str(cache_dir() / name), cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(name)
    return img


def real_samples() -> Iterator[Sample]:
    for name, boxes in REAL_FACES.items():
        yield Sample("real_faces", name, load(name), tuple(boxes), name in PARTLY_LABELLED)


def face_free_samples() -> Iterator[Sample]:
    for name in FACE_FREE:
        yield Sample("face_free", name, load(name), ())


def face_free_2x_samples() -> Iterator[Sample]:
    """The face-free photos enlarged 2x: textures at another scale are where false positives
    hide (a detector tuned on one scale can see faces in coins or a circuit board at another)."""
    for name in FACE_FREE:
        big = cv2.resize(load(name), None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
        yield Sample("face_free_2x", f"{name}@2x", big, ())


def _paste(
    canvas: Image, src: Image, box: Box, *, face_h: int, angle: float, centre: tuple[float, float]
) -> Box:
    x, y, w, h = box
    # Take the head with hair and some neck, as a person would appear.
    x0, x1 = max(0, int(x - 0.7 * w)), min(src.shape[1], int(x + 1.7 * w))
    y0, y1 = max(0, int(y - 0.9 * h)), min(src.shape[0], int(y + 1.6 * h))
    crop = src[y0:y1, x0:x1]
    mask = np.zeros(crop.shape[:2], np.float32)
    fcx, fcy = x + w / 2 - x0, y + h / 2 - y0
    cv2.ellipse(
        mask, (round(fcx), round(fcy)), (round(1.05 * w), round(1.2 * h)), 0, 0, 360, 1.0, -1
    )
    mask = cv2.GaussianBlur(mask, (0, 0), sigmaX=0.12 * w)
    scale = face_h / h
    m = cv2.getRotationMatrix2D((fcx, fcy), angle, scale)
    m[0, 2] += centre[0] - fcx
    m[1, 2] += centre[1] - fcy
    size = (canvas.shape[1], canvas.shape[0])
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    warped = cv2.warpAffine(crop, m, size, flags=interp, borderMode=cv2.BORDER_REPLICATE)
    alpha = cv2.warpAffine(mask, m, size, flags=cv2.INTER_LINEAR)[:, :, None]
    canvas[:] = (canvas * (1 - alpha) + warped * alpha).astype(np.uint8)
    # Ground truth: the inner 80% of the face box, rotated, as an axis-aligned box.
    cx, cy = x + w / 2 - x0, y + h / 2 - y0
    corners = np.array(
        [[cx + dx * 0.4 * w, cy + dy * 0.4 * h, 1.0] for dx in (-1, 1) for dy in (-1, 1)]
    )
    pts = corners @ m.T
    gx0, gy0 = pts.min(axis=0)
    gx1, gy1 = pts.max(axis=0)
    return (int(gx0), int(gy0), math.ceil(gx1 - gx0), math.ceil(gy1 - gy0))


def synthetic_samples(buckets: tuple[Bucket, ...] = BUCKETS) -> Iterator[Sample]:
    for bucket in buckets:
        rng = np.random.default_rng(zlib.crc32(bucket.name.encode()))
        for k in range(SAMPLES_PER_BUCKET):
            src_name = SOURCES[k % len(SOURCES)]
            bg_name = BACKGROUNDS[(k * 3 + bucket.face_h) % len(BACKGROUNDS)]
            cw, ch = bucket.canvas
            canvas = cv2.resize(load(bg_name), (cw, ch), interpolation=cv2.INTER_AREA)
            angle = bucket.angle * (1 if k % 2 == 0 else -1)
            margin = bucket.face_h * 0.8
            if bucket.name == "full_frame":
                centre = (cw / 2 + rng.uniform(-40, 40), ch / 2 + rng.uniform(-10, 10))
            else:
                centre = (rng.uniform(margin, cw - margin), rng.uniform(margin, ch - margin))
            box = REAL_FACES[src_name][0]
            gt = _paste(
                canvas, load(src_name), box, face_h=bucket.face_h, angle=angle, centre=centre
            )
            img = canvas
            if bucket.dark:
                noise = rng.normal(0, 2.0, img.shape)
                img = np.clip(img.astype(np.float32) * 0.22 + noise, 0, 255).astype(np.uint8)
            if bucket.blur:
                sigma = bucket.face_h / 22
                img = cv2.GaussianBlur(img, (0, 0), sigmaX=sigma)
            if bucket.jpeg is not None:
                ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, bucket.jpeg])
                assert ok
                img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
            yield Sample(bucket.name, f"{bucket.name}/{k}:{src_name}@{bg_name}", img, (gt,))


def compose_photo(
    bg_name: str,
    size: tuple[int, int],
    faces: tuple[tuple[int, float], ...],
    seed: int,
    noise: float = 4.0,
) -> tuple[Image, tuple[Box, ...]]:
    """A camera-sized photo: a face-free scene enlarged to ``size`` with sensor-like noise,
    and one pasted head per (face height, angle), placed so that no two heads overlap (an
    occluded face is not a fair miss)."""
    w, h = size
    rng = np.random.default_rng(seed)
    canvas = cv2.resize(load(bg_name), (w, h), interpolation=cv2.INTER_CUBIC)
    grain = rng.normal(0, noise, canvas.shape).astype(np.float32)
    canvas = np.clip(canvas.astype(np.float32) + grain, 0, 255).astype(np.uint8)
    placed: list[tuple[float, float, float]] = []  # centre and radius of each pasted head
    boxes: list[Box] = []
    for k, (face_h, angle) in enumerate(faces):
        radius = 1.3 * face_h  # the feathered head mask reaches ~1.2 face heights
        for _ in range(1000):
            cx = rng.uniform(radius, w - radius) if w > 2 * radius else w / 2
            cy = rng.uniform(radius, h - radius) if h > 2 * radius else h / 2
            if all(math.hypot(cx - px, cy - py) > radius + pr for px, py, pr in placed):
                break
        else:
            raise ValueError(f"no room for a {face_h} px face in {size}")
        placed.append((cx, cy, radius))
        src = SOURCES[k % len(SOURCES)]
        box = REAL_FACES[src][0]
        boxes.append(_paste(canvas, load(src), box, face_h=face_h, angle=angle, centre=(cx, cy)))
    return canvas, tuple(boxes)


#: Two 12 MP photos (4000 x 3000) holding faces from 24 px to 600 px, some turned: detection
#: on a big photo runs over many overlapping tiles, so faces fall across tile borders here.
#: Biggest first, so that every head finds room.
LARGE_FACES: tuple[tuple[int, float], ...] = (
    (600, -20), (300, 0), (160, 45), (96, -30), (64, 30), (48, -15), (40, 15), (32, 0),
    (28, -10), (24, 10), (24, 0),
)  # fmt: skip


def large_samples() -> Iterator[Sample]:
    for k, bg in enumerate(("building.jpg", "home.jpg")):
        img, boxes = compose_photo(bg, (4000, 3000), LARGE_FACES, seed=100 + k)
        yield Sample("large_12mp", f"large_12mp/{k}@{bg}", img, boxes)


#: Camera-sized photos where a cascade or a pre-filter would fail first: many small faces
#: (24-40 px) straddling the borders of the 1.5x level's 640 px tiles (every 320 px of the
#: photo, 427 px wide) and of 1024 px tiles at 1.0x, and at the photo's four edges, turned,
#: in the dark or out of focus, on real scenes. One (size, angle) list per photo; the
#: photo's treatment is in CAMERA_PHOTOS.
CAMERA_FACES: tuple[tuple[int, float], ...] = (
    (40, 0), (36, 25), (32, -20), (28, 0), (24, 15), (24, -30), (26, 0), (30, 35),
    (34, -10), (38, 20), (24, 0), (28, -25), (32, 10), (40, -35), (26, 30), (36, 0),
)  # fmt: skip
#: (background, treatment): plain, dark (a dim room), blurred (focus on the background),
#: and a bright scene at camera JPEG quality.
CAMERA_PHOTOS: tuple[tuple[str, str], ...] = (
    ("building.jpg", "plain"),
    ("home.jpg", "dark"),
    ("leuvenA.jpg", "blur"),
    ("aloeL.jpg", "jpeg"),
)


def _camera_centres(
    rng: np.random.Generator, size: tuple[int, int], faces: tuple[tuple[int, float], ...]
) -> list[tuple[float, float]]:
    """Face centres on tile borders and photo edges, heads not overlapping: every other
    face sits on a border line of one tiling (x or y), the rest hug an edge of the photo."""
    w, h = size
    borders_x = [k * 320.0 for k in range(1, w // 320)] + [k * 928.0 for k in range(1, w // 928)]
    borders_y = [k * 320.0 for k in range(1, h // 320)] + [k * 928.0 for k in range(1, h // 928)]
    placed: list[tuple[float, float, float]] = []
    centres: list[tuple[float, float]] = []
    for k, (face_h, _angle) in enumerate(faces):
        radius = 1.3 * face_h
        inset = 0.75 * face_h  # the inner face stays in the photo, the hair may not
        for _ in range(2000):
            mode = k % 4
            if mode == 0:
                cx = float(rng.choice(borders_x)) + rng.uniform(-0.3, 0.3) * face_h
                cy = rng.uniform(radius, h - radius)
            elif mode == 1:
                cx = rng.uniform(radius, w - radius)
                cy = float(rng.choice(borders_y)) + rng.uniform(-0.3, 0.3) * face_h
            elif mode == 2:
                cx = inset if rng.random() < 0.5 else w - inset
                cy = rng.uniform(radius, h - radius)
            else:
                cx = rng.uniform(radius, w - radius)
                cy = inset if rng.random() < 0.5 else h - inset
            if all(math.hypot(cx - px, cy - py) > radius + pr for px, py, pr in placed):
                break
        else:
            raise ValueError(f"no room for a {face_h} px face in {size}")
        placed.append((cx, cy, radius))
        centres.append((cx, cy))
    return centres


def camera_samples() -> Iterator[Sample]:
    w, h = 4000, 3000
    for k, (bg, treatment) in enumerate(CAMERA_PHOTOS):
        rng = np.random.default_rng(300 + k)
        canvas = cv2.resize(load(bg), (w, h), interpolation=cv2.INTER_CUBIC)
        grain = rng.normal(0, 4.0, canvas.shape).astype(np.float32)
        canvas = np.clip(canvas.astype(np.float32) + grain, 0, 255).astype(np.uint8)
        boxes = []
        for j, ((face_h, angle), centre) in enumerate(
            zip(CAMERA_FACES, _camera_centres(rng, (w, h), CAMERA_FACES), strict=True)
        ):
            src = SOURCES[(j + k) % len(SOURCES)]
            box = REAL_FACES[src][0]
            gx, gy, gw, gh = _paste(
                canvas, load(src), box, face_h=face_h, angle=angle, centre=centre
            )
            x0, y0 = max(0, gx), max(0, gy)
            boxes.append((x0, y0, min(w, gx + gw) - x0, min(h, gy + gh) - y0))
        img = canvas
        if treatment == "dark":
            noise = rng.normal(0, 2.0, img.shape)
            img = np.clip(img.astype(np.float32) * 0.25 + noise, 0, 255).astype(np.uint8)
        elif treatment == "blur":
            img = cv2.GaussianBlur(img, (0, 0), sigmaX=1.4)
        elif treatment == "jpeg":
            img = cv2.convertScaleAbs(img, alpha=1.15, beta=20)
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 80])
        assert ok
        img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
        yield Sample("camera_12mp", f"camera_12mp/{k}:{treatment}@{bg}", img, tuple(boxes))
