"""Safe decoding (limits before pixels) and metadata-free encoding."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pi_heif
from PIL import Image as PILImage

from .errors import ImagingError
from .formats import HeaderInfo, read_header
from .isolated import decode_in_helper
from .types import Limits

#: uint8 pixels, HxW or HxWxC. Typed loosely because OpenCV's stubs return generic arrays.
Image = npt.NDArray[Any]


@dataclass
class Decoded:
    """Upright 8-bit pixels: ``pixels`` is HxW (gray) or HxWx3 (BGR); alpha is kept apart."""

    pixels: Image
    alpha: Image | None
    info: HeaderInfo


def check_limits(data: bytes, limits: Limits) -> HeaderInfo:
    """Refuse oversized input from the byte count and the header alone."""
    if not data:
        raise ImagingError("empty_input", "The input is empty.")
    if len(data) > limits.max_bytes:
        raise ImagingError(
            "too_many_bytes",
            f"The input has {len(data)} bytes; the limit is {limits.max_bytes}.",
        )
    info = read_header(data)
    if max(info.width, info.height) > limits.max_side:
        raise ImagingError(
            "side_too_long",
            f"The image is {info.width}x{info.height}; no side may exceed {limits.max_side} px.",
        )
    pixels = max(info.width * info.height, info.decoded_pixels)
    if pixels > limits.max_pixels:
        raise ImagingError(
            "too_many_pixels",
            f"The image has {pixels} pixels; the limit is {limits.max_pixels}.",
        )
    return info


_REDUCED = {
    (False, 2): cv2.IMREAD_REDUCED_COLOR_2,
    (False, 4): cv2.IMREAD_REDUCED_COLOR_4,
    (False, 8): cv2.IMREAD_REDUCED_COLOR_8,
    (True, 2): cv2.IMREAD_REDUCED_GRAYSCALE_2,
    (True, 4): cv2.IMREAD_REDUCED_GRAYSCALE_4,
    (True, 8): cv2.IMREAD_REDUCED_GRAYSCALE_8,
}


def reduction_for(info: HeaderInfo, max_side: int | None) -> int:
    """The largest JPEG DCT scaling (1/2, 1/4, 1/8) that still leaves >= max_side px."""
    if info.format != "jpeg" or max_side is None:
        return 1
    longest = max(info.width, info.height)
    for factor in (8, 4, 2):
        if longest // factor >= max_side:
            return factor
    return 1


def decode(
    data: bytes, limits: Limits, *, gray: bool = False, max_side: int | None = None
) -> Decoded:
    """Decode to upright 8-bit pixels, after the limits passed on the header.

    With ``max_side`` (a resize follows and nothing needs full resolution) a JPEG is decoded
    at 1/2, 1/4 or 1/8 scale by libjpeg itself, which is several times faster.
    """
    info = check_limits(data, limits)
    buf = np.frombuffer(data, dtype=np.uint8)
    factor = reduction_for(info, max_side)
    if info.format == "jpeg":
        # JPEG has no alpha; asking libjpeg for gray skips the chroma work entirely.
        if factor > 1:
            flag = _REDUCED[gray, factor]
        else:
            flag = cv2.IMREAD_GRAYSCALE if gray else cv2.IMREAD_COLOR
        raw = cv2.imdecode(buf, flag | cv2.IMREAD_IGNORE_ORIENTATION)
    elif info.format in HELPER_DECODERS:
        # HEIC and AVIF: in a helper process, which a hostile file may crash (isolated.py).
        raw = decode_in_helper(info.format, data)
    else:
        raw = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if raw is None or raw.size == 0:
        raise ImagingError("corrupt", f"The {info.format.upper()} data cannot be decoded.")
    # libheif turns HEIC pixels per irot/imir itself; everything else arrives as stored.
    turned = info.container_orientation and info.format == "heif"
    orientation = 1 if turned else info.orientation
    swapped = turned and info.orientation >= 5
    height, width = (info.width, info.height) if swapped else (info.height, info.width)
    expect = (-(-height // factor), -(-width // factor))
    if raw.shape[:2] != expect:
        raise ImagingError("corrupt", "The decoded size differs from the header's.")
    pixels, alpha = _normalise(raw, gray=gray)
    pixels = apply_orientation(pixels, orientation)
    if alpha is not None:
        alpha = apply_orientation(alpha, orientation)
    return Decoded(pixels=pixels, alpha=alpha, info=info)


def _decode_heif(data: bytes) -> Image:
    """The primary image as 8-bit BGR(A); 10/12-bit (HDR) samples are scaled down by libheif."""
    try:
        heif = pi_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=True, bgr_mode=True)
        primary = heif[heif.primary_index]
        # A copy, made while `heif` is alive: asarray is a view of libheif's buffer, which is
        # freed with it.
        raw: Image = np.array(primary, dtype=np.uint8, copy=True)
    except (ValueError, RuntimeError, OSError, IndexError, EOFError) as exc:
        raise ImagingError("corrupt", f"The HEIF data cannot be decoded ({exc}).") from exc
    return raw


def _decode_avif(data: bytes) -> Image:
    """The primary image as 8-bit BGR(A), as stored (Pillow leaves irot/imir to us)."""
    try:
        with PILImage.open(io.BytesIO(data), formats=["AVIF"]) as opened:
            opened.load()
            im: PILImage.Image = opened
            if im.mode not in ("RGB", "RGBA", "L", "LA"):
                im = im.convert("RGBA" if "A" in im.getbands() else "RGB")
            rgb: Image = np.array(im, dtype=np.uint8, copy=True)
    except (ValueError, OSError, SyntaxError, RuntimeError, EOFError) as exc:
        # libavif's failures arrive as RuntimeError ("Failed to decode frame 0: ...").
        raise ImagingError("corrupt", f"The AVIF data cannot be decoded ({exc}).") from exc
    if rgb.ndim == 3 and rgb.shape[2] == 3:
        return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    if rgb.ndim == 3 and rgb.shape[2] == 4:
        return cv2.cvtColor(rgb, cv2.COLOR_RGBA2BGRA)
    return np.ascontiguousarray(rgb)


# The decoders that run in the helper process (isolated.py), by header format.
HELPER_DECODERS: dict[str, Callable[[bytes], Image]] = {"heif": _decode_heif, "avif": _decode_avif}


def _normalise(raw: Image, *, gray: bool) -> tuple[Image, Image | None]:
    if raw.dtype == np.uint16:
        # 16-bit PNG: keep the high byte (exact rounding is irrelevant for redaction).
        raw = (raw >> 8).astype(np.uint8)
    elif raw.dtype != np.uint8:
        raise ImagingError("corrupt", f"Unsupported sample type {raw.dtype}.")
    img: Image = np.ascontiguousarray(raw)
    alpha: Image | None = None
    if img.ndim == 3 and img.shape[2] == 4:
        alpha = np.ascontiguousarray(img[:, :, 3])
        img = np.ascontiguousarray(img[:, :, :3])
        if bool((alpha == 255).all()):
            alpha = None
    elif img.ndim == 3 and img.shape[2] == 2:
        alpha = np.ascontiguousarray(img[:, :, 1])
        img = np.ascontiguousarray(img[:, :, 0])
    if img.ndim == 3 and img.shape[2] == 1:
        img = np.ascontiguousarray(img[:, :, 0])
    if gray and img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    elif not gray and img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    return img, alpha


_ORIENT: dict[int, Callable[[Image], Image]] = {
    2: lambda a: cv2.flip(a, 1),
    3: lambda a: cv2.rotate(a, cv2.ROTATE_180),
    4: lambda a: cv2.flip(a, 0),
    5: cv2.transpose,
    6: lambda a: cv2.rotate(a, cv2.ROTATE_90_CLOCKWISE),
    7: lambda a: cv2.flip(cv2.transpose(a), -1),
    8: lambda a: cv2.rotate(a, cv2.ROTATE_90_COUNTERCLOCKWISE),
}


def apply_orientation(img: Image, orientation: int) -> Image:
    """Turn stored pixels upright per EXIF orientation 1..8 (same mapping as browsers)."""
    turn = _ORIENT.get(orientation)
    return img if turn is None else turn(img)


def encode(img: Image, alpha: Image | None, fmt: str, quality: int) -> bytes:
    """Encode with OpenCV, which writes no EXIF, XMP, IPTC, ICC or text chunks."""
    if alpha is not None and fmt == "jpeg":
        img = _flatten_on_white(img, alpha)
        alpha = None
    if alpha is not None:
        bgr = img if img.ndim == 3 else cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
        img = np.dstack([bgr, alpha])
    if fmt == "jpeg":
        params = [cv2.IMWRITE_JPEG_QUALITY, quality]
        ext = ".jpg"
    elif fmt == "png":
        params = [cv2.IMWRITE_PNG_COMPRESSION, 3]
        ext = ".png"
    else:
        params = [cv2.IMWRITE_WEBP_QUALITY, quality]
        ext = ".webp"
    ok, out = cv2.imencode(ext, img, params)
    if not ok:
        raise RuntimeError(f"OpenCV could not encode {fmt}")
    return bytes(out.tobytes())


def _flatten_on_white(img: Image, alpha: Image) -> Image:
    a = alpha.astype(np.float32) / 255.0
    if img.ndim == 3:
        a = a[:, :, None]
    out = img.astype(np.float32) * a + 255.0 * (1.0 - a)
    flat: Image = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    return flat
