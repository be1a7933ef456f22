"""Property-based fuzzing of the decode path: any bytes give a result or an ImagingError."""

from __future__ import annotations

import cv2
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imaging import ImagingError, Limits, Options, process_image
from imaging.formats import read_header

from . import fixtures as fx

_rng = np.random.default_rng(7)
_IMG = _rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)
SEEDS = (
    fx.encode(_IMG, ".jpg"),
    fx.encode(_IMG, ".jpg", [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]),
    fx.encode(_IMG, ".png"),
    fx.encode(_IMG, ".webp", [cv2.IMWRITE_WEBP_QUALITY, 80]),
    fx.encode(_IMG, ".webp", [cv2.IMWRITE_WEBP_QUALITY, 101]),
    fx.jpeg_with_metadata(_IMG, 6),
    fx.png_with_metadata(_IMG, 3),
    fx.webp_with_metadata(_IMG, 8),
    fx.heic(_IMG, 6),
    fx.heic(_IMG, alpha=_IMG[:, :, 0]),
    fx.avif(_IMG, 5),
    fx.avif(_IMG, alpha=_IMG[:, :, 1]),
    fx.heif_grid(64, 48, rows=2, cols=2, tile=(32, 24)),
)
# Small limits keep a mutated header from asking for a big (slow, legitimate) decode.
LIMITS = Limits(max_bytes=1 << 20, max_pixels=1 << 16, max_side=1024)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "delete", "set16"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "cut":
            del data[pos:]
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del data[pos : pos + draw(st.integers(1, 64))]
        elif kind == "set16" and pos + 2 <= len(data):
            data[pos : pos + 2] = draw(st.integers(0, 0xFFFF)).to_bytes(2, "big")
    return bytes(data)


INPUT_CODES = frozenset(
    {"empty_input", "unsupported_format", "too_many_bytes", "too_many_pixels", "side_too_long",
     "truncated", "corrupt"}
)  # fmt: skip


def _check(data: bytes) -> None:
    try:
        res = process_image(data, ["grayscale"], Options(format="png"), LIMITS)
    except ImagingError as exc:
        code = exc.code
    else:
        code = None
    if code is not None:
        assert code in INPUT_CODES
        return
    assert res.width * res.height <= LIMITS.max_pixels
    assert read_header(res.data).format == "png"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_images_never_crash(data: bytes) -> None:
    _check(data)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=256).map(lambda b: b"\xff\xd8\xff" + b) | st.binary(max_size=256))
def test_random_bytes_never_crash(data: bytes) -> None:
    _check(data)
