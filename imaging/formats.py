"""Format sniffing and header parsing, done by hand before any decoder sees the bytes.

The decoder (OpenCV) allocates the full image as soon as it is asked to decode, so the
dimensions, the structure (is the file complete?) and the EXIF orientation are read here from
the container headers alone. This is what makes a decompression bomb cost milliseconds.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from . import heif
from .errors import ImagingError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# Start-of-frame markers that carry the frame size (C4 DHT, C8 JPG and CC DAC are not frames).
_JPEG_SOF = frozenset(
    {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
)
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})
_JPEG_SOS = 0xDA
_JPEG_EOI = b"\xff\xd9"

_MAX_DIM = 1 << 31


@dataclass(frozen=True)
class HeaderInfo:
    """What the container says about the image, read without decoding pixels."""

    format: str
    width: int  # as stored, before EXIF orientation
    height: int
    orientation: int  # EXIF orientation 1..8 (1 when absent or unreadable)
    channels: int  # JPEG components (1 gray, 3 YCbCr/RGB, 4 CMYK); 0 when not known
    # Pixels the decoder allocates when more than width x height (every tile of a HEIF grid).
    decoded_pixels: int = 0
    # True when the orientation comes from HEIF irot/imir, which libheif applies while decoding.
    container_orientation: bool = False


def sniff_format(data: bytes) -> str:
    """Name the format from the leading bytes only: "jpeg", "png", "webp", "heif" or "avif".

    HEIF and AVIF are told apart by their `ftyp` brands; read_header then names the format from
    the primary image's coding, which is what picks the decoder.
    """
    if not data:
        raise ImagingError("empty_input", "The input is empty.")
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == PNG_SIGNATURE:
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    fmt = heif.sniff(data)
    if fmt is not None:
        return fmt
    raise ImagingError(
        "unsupported_format",
        "The input is not a JPEG, PNG, WebP, HEIC/HEIF or AVIF image (format read from its bytes).",
    )


def read_header(data: bytes) -> HeaderInfo:
    """Parse the header and check the container is complete; never decodes pixel data."""
    fmt = sniff_format(data)
    if fmt == "jpeg":
        info = _read_jpeg(data)
    elif fmt == "png":
        info = _read_png(data)
    elif fmt in ("heif", "avif"):
        info = _read_heif(data)
    else:
        info = _read_webp(data)
    if info.width <= 0 or info.height <= 0 or info.width >= _MAX_DIM or info.height >= _MAX_DIM:
        raise ImagingError("corrupt", f"The {fmt.upper()} header gives an impossible size.")
    return info


def upright_size(info: HeaderInfo) -> tuple[int, int]:
    """Width and height after the EXIF orientation is applied."""
    if info.orientation >= 5:
        return info.height, info.width
    return info.width, info.height


def _truncated(fmt: str) -> ImagingError:
    return ImagingError("truncated", f"The {fmt} data ends before the image is complete.")


def _read_jpeg(data: bytes) -> HeaderInfo:  # noqa: PLR0912 - one branch per marker kind
    n = len(data)
    i = 2
    exif: bytes | None = None
    frame: tuple[int, int, int, int] | None = None
    while True:
        if i + 2 > n:
            raise _truncated("JPEG")
        if data[i] != 0xFF:
            raise ImagingError("corrupt", "The JPEG marker structure is damaged.")
        # Any number of 0xFF fill bytes may precede a marker code.
        while i + 1 < n and data[i + 1] == 0xFF:
            i += 1
        if i + 2 > n:
            raise _truncated("JPEG")
        marker = data[i + 1]
        if marker in _JPEG_STANDALONE:
            i += 2
            continue
        if marker in (0xD8, 0xD9, 0x00):
            raise ImagingError("corrupt", "The JPEG ends or restarts before its image data.")
        if i + 4 > n:
            raise _truncated("JPEG")
        (seglen,) = struct.unpack_from(">H", data, i + 2)
        if seglen < 2:
            raise ImagingError("corrupt", "The JPEG has a segment with an impossible length.")
        end = i + 2 + seglen
        if end > n:
            raise _truncated("JPEG")
        if marker == 0xE1 and exif is None and data[i + 4 : i + 10] == b"Exif\x00\x00":
            exif = data[i + 10 : end]
        elif marker in _JPEG_SOF:
            if seglen < 8:
                raise ImagingError("corrupt", "The JPEG frame header is too short.")
            precision, height, width, comps = struct.unpack_from(">BHHB", data, i + 4)
            if frame is not None:
                raise ImagingError("corrupt", "The JPEG has more than one frame header.")
            frame = (width, height, comps, precision)
        elif marker == _JPEG_SOS:
            if frame is None:
                raise ImagingError("corrupt", "The JPEG image data starts before its frame header.")
            # Entropy-coded data never holds FF D9 (0xFF is stuffed as FF 00), so a missing EOI
            # after the first scan means the file was cut short; OpenCV would silently fill grey.
            if data.find(_JPEG_EOI, end) < 0:
                raise _truncated("JPEG")
            break
        i = end
    width, height, comps, precision = frame
    if height == 0:
        raise ImagingError(
            "corrupt", "The JPEG defines its height later (DNL), which is unsupported."
        )
    if comps not in (1, 3, 4):
        raise ImagingError("corrupt", f"The JPEG has {comps} colour components.")
    return HeaderInfo(
        format="jpeg",
        width=width,
        height=height,
        orientation=exif_orientation(exif) if exif else 1,
        channels=comps,
    )


def _read_png(data: bytes) -> HeaderInfo:
    n = len(data)
    if n < 8 + 8 + 13 + 4:
        raise _truncated("PNG")
    length, ctype = struct.unpack_from(">I4s", data, 8)
    if ctype != b"IHDR" or length != 13:
        raise ImagingError("corrupt", "The PNG does not start with a valid IHDR chunk.")
    ihdr = data[16:29]
    (crc,) = struct.unpack_from(">I", data, 29)
    if zlib.crc32(b"IHDR" + ihdr) != crc:
        raise ImagingError("corrupt", "The PNG header checksum is wrong.")
    width, height, depth, colour, _comp, _filt, _interlace = struct.unpack(">IIBBBBB", ihdr)
    if colour not in (0, 2, 3, 4, 6) or depth not in (1, 2, 4, 8, 16):
        raise ImagingError("corrupt", "The PNG header names an impossible pixel layout.")
    exif: bytes | None = None
    saw_idat = False
    i = 33
    # Walk the chunk lengths only (no CRC over the pixel data): cheap, and enough to tell a
    # complete file from one cut short.
    while True:
        if i + 8 > n:
            raise _truncated("PNG")
        length, ctype = struct.unpack_from(">I4s", data, i)
        end = i + 12 + length
        if length > 0x7FFFFFFF:
            raise ImagingError("corrupt", "The PNG has a chunk with an impossible length.")
        if end > n:
            raise _truncated("PNG")
        if ctype == b"IDAT":
            saw_idat = True
        elif ctype == b"eXIf" and exif is None:
            exif = data[i + 8 : i + 8 + length]
        elif ctype == b"IEND":
            break
        i = end
    if not saw_idat:
        raise ImagingError("corrupt", "The PNG has no image data.")
    return HeaderInfo(
        format="png",
        width=width,
        height=height,
        orientation=exif_orientation(exif) if exif else 1,
        channels=0,
    )


def _read_heif(data: bytes) -> HeaderInfo:
    found = heif.read(data)
    exif = found.exif or b""
    return HeaderInfo(
        format=found.format,
        width=found.width,
        height=found.height,
        # irot/imir are what HEIF readers (libheif, browsers) apply; the EXIF orientation only
        # counts when the container has none, so a photo is never turned twice.
        orientation=found.transform if found.container_orientation else exif_orientation(exif),
        channels=4 if found.has_alpha else 3,
        decoded_pixels=found.decoded_pixels,
        container_orientation=found.container_orientation,
    )


def _read_webp(data: bytes) -> HeaderInfo:
    n = len(data)
    if n < 12:
        raise _truncated("WebP")
    (riff_size,) = struct.unpack_from("<I", data, 4)
    total = 8 + riff_size
    if riff_size < 4 + 8:
        raise ImagingError("corrupt", "The WebP RIFF header is damaged.")
    if total > n:
        raise _truncated("WebP")
    width = height = 0
    exif: bytes | None = None
    first = True
    i = 12
    while i + 8 <= total:
        fourcc, size = struct.unpack_from("<4sI", data, i)
        start, end = i + 8, i + 8 + size
        if end > total:
            raise _truncated("WebP")
        chunk = data[start:end]
        if first:
            width, height = _webp_first_chunk(fourcc, chunk)
            first = False
        if fourcc == b"EXIF" and exif is None:
            exif = chunk[6:] if chunk[:6] == b"Exif\x00\x00" else chunk
        elif fourcc in (b"ANIM", b"ANMF"):
            raise ImagingError("unsupported_format", "Animated WebP images are not supported.")
        i = end + (size & 1)
    if first:
        raise ImagingError("corrupt", "The WebP has no image chunk.")
    return HeaderInfo(
        format="webp",
        width=width,
        height=height,
        orientation=exif_orientation(exif) if exif else 1,
        channels=0,
    )


def _webp_first_chunk(fourcc: bytes, chunk: bytes) -> tuple[int, int]:
    if fourcc == b"VP8 ":
        if len(chunk) < 10 or chunk[3:6] != b"\x9d\x01\x2a":
            raise ImagingError("corrupt", "The lossy WebP frame header is damaged.")
        w, h = struct.unpack_from("<HH", chunk, 6)
        return w & 0x3FFF, h & 0x3FFF
    if fourcc == b"VP8L":
        if len(chunk) < 5 or chunk[0] != 0x2F:
            raise ImagingError("corrupt", "The lossless WebP header is damaged.")
        (bits,) = struct.unpack_from("<I", chunk, 1)
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if fourcc == b"VP8X":
        if len(chunk) < 10:
            raise ImagingError("corrupt", "The extended WebP header is damaged.")
        flags = chunk[0]
        if flags & 0x02:
            raise ImagingError("unsupported_format", "Animated WebP images are not supported.")
        w = int.from_bytes(chunk[4:7], "little") + 1
        h = int.from_bytes(chunk[7:10], "little") + 1
        return w, h
    raise ImagingError("corrupt", "The WebP does not start with an image chunk.")


def exif_orientation(tiff: bytes) -> int:
    """Read tag 0x0112 from IFD0 of a TIFF-structured EXIF block; 1 when absent or damaged."""
    try:
        if tiff[:4] == b"II*\x00":
            order = "<"
        elif tiff[:4] == b"MM\x00*":
            order = ">"
        else:
            return 1
        (ifd,) = struct.unpack_from(order + "I", tiff, 4)
        (count,) = struct.unpack_from(order + "H", tiff, ifd)
        for k in range(min(count, 512)):
            tag, typ, _cnt = struct.unpack_from(order + "HHI", tiff, ifd + 2 + 12 * k)
            if tag == 0x0112 and typ == 3:
                (value,) = struct.unpack_from(order + "H", tiff, ifd + 2 + 12 * k + 8)
                return value if 1 <= value <= 8 else 1
    except struct.error:
        return 1
    return 1
