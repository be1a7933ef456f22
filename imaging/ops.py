"""The operations: one name -> function table, composed in order by the pipeline.

Redaction rule (why a redacted face is unrecognisable at any resolution)
-----------------------------------------------------------------------
Each detected box is first padded so the region runs from hairline to chin and ear to ear:
25% of the box width on each side, 40% of its height above and 20% below (detector boxes run
brow to chin). The padded region is then reduced to at most ``CELLS`` x ``CELLS`` values:

* ``mosaic_faces``: blocks of side ``ceil(max(w, h) / CELLS)`` px, each filled with its mean.
* ``blur_faces``: the region is shrunk to ``CELLS`` x ``CELLS`` (area average), enlarged back
  smoothly and softened by a Gaussian of half a cell, so no edge of the grid remains.
* ``redact_faces``: a solid fill (zero information).

Because the block size is a fixed fraction of the face, not a fixed number of pixels, the
whole face always carries at most ``CELLS``² = 64 colours, whether it is 30 px or 3000 px
tall: at 8 cells across hairline-to-chin the eyes, nose and mouth each fall inside one or two
cells, below the ~16 cells across that human and machine face recognition need.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import cv2

from .catalog import OPERATION_NAMES
from .codec import Image
from .errors import ImagingError
from .types import FaceBox, Options

CELLS = 8
PAD_SIDE = 0.25
PAD_TOP = 0.40
PAD_BOTTOM = 0.20
#: Whole-image mosaic: blocks of 1/64 of the longest side.
IMAGE_MOSAIC_CELLS = 64


@dataclass
class OpContext:
    """State shared by the operations of one request."""

    options: Options
    alpha: Image | None = None
    #: Faces in upright original coordinates, filled by the pipeline before any face op runs.
    faces: tuple[FaceBox, ...] = ()
    #: Current pixels per original pixel (changes when ``resize`` runs).
    scale: float = 1.0


OpFunc = Callable[[Image, OpContext], Image]


def pad_box(face: FaceBox, scale: float, width: int, height: int) -> tuple[int, int, int, int]:
    """The padded redaction rectangle (x0, y0, x1, y1) in current-image pixels, clipped."""
    x0 = (face.x - PAD_SIDE * face.w) * scale
    x1 = (face.x + face.w * (1 + PAD_SIDE)) * scale
    y0 = (face.y - PAD_TOP * face.h) * scale
    y1 = (face.y + face.h * (1 + PAD_BOTTOM)) * scale
    return (
        max(0, math.floor(x0)),
        max(0, math.floor(y0)),
        min(width, math.ceil(x1)),
        min(height, math.ceil(y1)),
    )


def _face_regions(img: Image, ctx: OpContext) -> list[tuple[int, int, int, int, int]]:
    """Padded regions plus each one's cell size, computed on the unclipped padded box."""
    h, w = img.shape[:2]
    regions = []
    for face in ctx.faces:
        x0, y0, x1, y1 = pad_box(face, ctx.scale, w, h)
        if x1 <= x0 or y1 <= y0:
            continue
        full = max(face.w * (1 + 2 * PAD_SIDE), face.h * (1 + PAD_TOP + PAD_BOTTOM)) * ctx.scale
        cell = max(2, math.ceil(full / CELLS))
        regions.append((x0, y0, x1, y1, cell))
    return regions


def _pixelate(region: Image, cell: int) -> Image:
    rh, rw = region.shape[:2]
    sw, sh = max(1, math.ceil(rw / cell)), max(1, math.ceil(rh / cell))
    small = cv2.resize(region, (sw, sh), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (rw, rh), interpolation=cv2.INTER_NEAREST)


def _draw_preview(img: Image, ctx: OpContext) -> Image:
    out = img.copy()
    colour: tuple[int, ...] = (0, 255, 0) if out.ndim == 3 else (255,)
    thickness = max(2, round(max(img.shape[:2]) / 400))
    for x0, y0, x1, y1, _cell in _face_regions(img, ctx):
        cv2.rectangle(out, (x0, y0), (x1 - 1, y1 - 1), colour, thickness)
    return out


def mosaic_faces(img: Image, ctx: OpContext) -> Image:
    if ctx.options.preview:
        return _draw_preview(img, ctx)
    out = img.copy()
    for x0, y0, x1, y1, cell in _face_regions(img, ctx):
        out[y0:y1, x0:x1] = _pixelate(out[y0:y1, x0:x1], cell)
    return out


def blur_faces(img: Image, ctx: OpContext) -> Image:
    if ctx.options.preview:
        return _draw_preview(img, ctx)
    out = img.copy()
    for x0, y0, x1, y1, cell in _face_regions(img, ctx):
        region = out[y0:y1, x0:x1]
        rh, rw = region.shape[:2]
        small = cv2.resize(
            region,
            (max(1, math.ceil(rw / cell)), max(1, math.ceil(rh / cell))),
            interpolation=cv2.INTER_AREA,
        )
        big = cv2.resize(small, (rw, rh), interpolation=cv2.INTER_LINEAR)
        sigma = cell / 2
        out[y0:y1, x0:x1] = cv2.GaussianBlur(big, (0, 0), sigmaX=sigma, sigmaY=sigma)
    return out


def redact_faces(img: Image, ctx: OpContext) -> Image:
    if ctx.options.preview:
        return _draw_preview(img, ctx)
    out = img.copy()
    for x0, y0, x1, y1, _cell in _face_regions(img, ctx):
        out[y0:y1, x0:x1] = 0
    return out


def grayscale(img: Image, ctx: OpContext) -> Image:
    if img.ndim == 2:
        return img
    out: Image = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    return out


def mosaic(img: Image, ctx: OpContext) -> Image:
    cell = max(2, math.ceil(max(img.shape[:2]) / IMAGE_MOSAIC_CELLS))
    return _pixelate(img, cell)


def resize(img: Image, ctx: OpContext) -> Image:
    target = ctx.options.max_side
    if target is None:
        raise ImagingError("invalid_options", "The resize operation needs max_side.")
    h, w = img.shape[:2]
    if max(h, w) <= target:
        return img
    factor = target / max(h, w)
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    out: Image = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
    if ctx.alpha is not None:
        ctx.alpha = cv2.resize(ctx.alpha, size, interpolation=cv2.INTER_AREA)
    ctx.scale *= size[0] / w
    return out


OPERATIONS: Mapping[str, OpFunc] = MappingProxyType(
    {
        "grayscale": grayscale,
        "mosaic_faces": mosaic_faces,
        "blur_faces": blur_faces,
        "redact_faces": redact_faces,
        "mosaic": mosaic,
        "resize": resize,
    }
)

if tuple(OPERATIONS) != OPERATION_NAMES:  # the cv2-free catalog must list exactly this table
    raise RuntimeError("imaging.catalog.OPERATION_NAMES is out of step with ops.OPERATIONS")
