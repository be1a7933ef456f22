"""process_image: sniff -> limits -> decode upright -> detect (once) -> ops in order -> encode."""

from __future__ import annotations

import time
from collections.abc import Sequence

from .catalog import FACE_OPS, validate_ops
from .codec import decode, encode
from .detect import detect_faces
from .errors import ImagingError
from .formats import upright_size
from .ops import OPERATIONS, OpContext
from .types import CONTENT_TYPES, FaceBox, Limits, Options, ProcessResult


def process_image(
    data: bytes,
    ops: Sequence[str],
    options: Options = Options(),  # noqa: B008 - Options is frozen, sharing it is safe
    limits: Limits = Limits(),  # noqa: B008
    *,
    faces: Sequence[FaceBox] | None = None,
) -> ProcessResult:
    """Run ``ops`` in order on the image in ``data``; every input problem is an ImagingError.

    ``faces``, when given, are the face boxes to redact (upright source pixels, as detection
    reports them): no detection runs, so a person's reviewed set is applied exactly."""
    names = validate_ops(ops)
    if options.max_side is not None and "resize" not in names:
        names = (*names, "resize")
    if "resize" in names and options.max_side is None:
        raise ImagingError("invalid_options", "The resize operation needs max_side.")
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ImagingError("empty_input", "The input must be bytes.")
    data = bytes(data)
    wants_faces = any(n in FACE_OPS for n in names)
    timings: dict[str, float] = {}

    t0 = time.perf_counter()
    # Decoding straight to gray halves the decoder's work, but detection wants colour.
    # A resize that comes before anything else lets the JPEG decoder shrink by itself; faces
    # are always detected at full resolution.
    first_resize = names.index("resize") if "resize" in names else -1
    shrink_first = first_resize >= 0 and set(names[:first_resize]) <= {"grayscale"}
    early = options.max_side if shrink_first and not wants_faces else None
    decoded = decode(data, limits, gray="grayscale" in names and not wants_faces, max_side=early)
    img = decoded.pixels
    source_w, source_h = upright_size(decoded.info)
    timings["decode"] = time.perf_counter() - t0

    ctx = OpContext(options=options, alpha=decoded.alpha, scale=img.shape[1] / source_w)
    detector: str | None = None
    unverified = 0
    if wants_faces and faces is not None:
        ctx.faces = tuple(faces)
    elif wants_faces:
        t1 = time.perf_counter()
        found = detect_faces(img, min_face=options.min_face)
        ctx.faces = found.faces
        detector = found.detector
        unverified = found.unverified
        timings["detect"] = time.perf_counter() - t1

    t2 = time.perf_counter()
    for name in names:
        img = OPERATIONS[name](img, ctx)
    timings["filter"] = time.perf_counter() - t2

    t3 = time.perf_counter()
    out = encode(img, ctx.alpha, options.format, options.quality)
    timings["encode"] = time.perf_counter() - t3

    return ProcessResult(
        data=out,
        format=options.format,
        content_type=CONTENT_TYPES[options.format],
        width=img.shape[1],
        height=img.shape[0],
        source_format=decoded.info.format,
        source_width=source_w,
        source_height=source_h,
        faces=ctx.faces,
        detector=detector,
        faces_unverified=unverified,
        timings=timings,
    )
