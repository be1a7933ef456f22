"""Builders for hostile and unusual image files (EXIF, metadata, odd pixel layouts)."""

from __future__ import annotations

import io
import struct
import zlib

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image as PILImage

Image = npt.NDArray[np.uint8]

SECRET = b"SecretCam-GPS-4242"


def quadrants(w: int = 96, h: int = 64) -> Image:
    """A non-square picture whose four quadrants have distinct colours (BGR)."""
    img = np.zeros((h, w, 3), np.uint8)
    img[: h // 2, : w // 2] = (0, 0, 255)  # top-left red
    img[: h // 2, w // 2 :] = (0, 255, 0)  # top-right green
    img[h // 2 :, : w // 2] = (255, 0, 0)  # bottom-left blue
    img[h // 2 :, w // 2 :] = (255, 255, 255)  # bottom-right white
    return img


def encode(img: Image, ext: str, params: list[int] | None = None) -> bytes:
    ok, buf = cv2.imencode(ext, img, params or [])
    assert ok
    return buf.tobytes()


def tiff_exif(orientation: int, *, thumbnail: bytes | None = None) -> bytes:
    """A little-endian TIFF block: IFD0 (Orientation, Make, GPS pointer), GPS IFD, IFD1 thumb."""
    make = SECRET + b"\x00"
    entries0 = 3
    ifd0 = 8
    ifd0_size = 2 + 12 * entries0 + 4
    make_off = ifd0 + ifd0_size
    gps_off = make_off + len(make)
    gps_size = 2 + 12 * 1 + 4
    ifd1_off = gps_off + gps_size
    ifd1_size = 2 + 12 * 2 + 4
    thumb_off = ifd1_off + ifd1_size
    out = bytearray(b"II*\x00" + struct.pack("<I", ifd0))
    out += struct.pack("<H", entries0)
    out += struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0)
    out += struct.pack("<HHII", 0x010F, 2, len(make), make_off)
    out += struct.pack("<HHII", 0x8825, 4, 1, gps_off)
    out += struct.pack("<I", ifd1_off if thumbnail else 0)
    out += make
    out += struct.pack("<H", 1) + struct.pack("<HHI4s", 0x0001, 2, 2, b"N\x00\x00\x00")
    out += struct.pack("<I", 0)
    if thumbnail:
        out += struct.pack("<H", 2)
        out += struct.pack("<HHII", 0x0201, 4, 1, thumb_off)
        out += struct.pack("<HHII", 0x0202, 4, 1, len(thumbnail))
        out += struct.pack("<I", 0)
        out += thumbnail
    return bytes(out)


def jpeg_with_metadata(img: Image, orientation: int = 1, quality: int = 95) -> bytes:
    """JPEG with EXIF (orientation, GPS, thumbnail), XMP, IPTC, ICC and a comment."""
    base = encode(img, ".jpg", [cv2.IMWRITE_JPEG_QUALITY, quality])
    thumb = encode(cv2.resize(img, (16, 16)), ".jpg")
    exif = b"Exif\x00\x00" + tiff_exif(orientation, thumbnail=thumb)
    xmp = b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta>" + SECRET + b"</x:xmpmeta>"
    iptc = b"Photoshop 3.0\x008BIM\x04\x04\x00\x00\x00\x00\x00\x10" + SECRET[:16]
    icc = b"ICC_PROFILE\x00\x01\x01" + b"\x00" * 32
    segs = b""
    for marker, body in ((0xE1, exif), (0xE1, xmp), (0xED, iptc), (0xE2, icc), (0xFE, SECRET)):
        segs += bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body
    return base[:2] + segs + base[2:]


def png_chunk(ctype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body))


def png_with_metadata(img: Image, orientation: int = 1) -> bytes:
    base = encode(img, ".png")
    extra = (
        png_chunk(b"eXIf", tiff_exif(orientation))
        + png_chunk(b"tEXt", b"Comment\x00" + SECRET)
        + png_chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + SECRET)
    )
    return base[:33] + extra + base[33:]


def webp_with_metadata(img: Image, orientation: int = 1) -> bytes:
    """A VP8X WebP carrying EXIF and XMP chunks around a lossy frame."""
    base = encode(img, ".webp", [cv2.IMWRITE_WEBP_QUALITY, 90])
    assert base[12:16] == b"VP8 "
    frame = base[12:]
    h, w = img.shape[:2]
    vp8x = (
        bytes([0x08 | 0x04, 0, 0, 0])
        + (w - 1).to_bytes(3, "little")
        + (h - 1).to_bytes(3, "little")
    )

    def chunk(tag: bytes, body: bytes) -> bytes:
        return tag + struct.pack("<I", len(body)) + body + (b"\x00" if len(body) % 2 else b"")

    body = b"WEBP" + chunk(b"VP8X", vp8x) + frame
    body += chunk(b"EXIF", tiff_exif(orientation)) + chunk(b"XMP ", b"<x>" + SECRET + b"</x>")
    return b"RIFF" + struct.pack("<I", len(body)) + body


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A complete, tiny PNG whose header claims a huge 8-bit gray image (IDAT is a stub)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 4096, 9)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def jpeg_bomb(width: int = 65_000, height: int = 65_000) -> bytes:
    """A JPEG whose frame header claims width x height, with a few bytes of scan data."""
    small = encode(np.zeros((8, 8, 3), np.uint8), ".jpg")
    i = small.index(b"\xff\xc0")
    return small[: i + 5] + struct.pack(">HH", height, width) + small[i + 9 :]


def webp_bomb(width: int = 16_000, height: int = 16_000) -> bytes:
    frame = encode(np.zeros((8, 8, 3), np.uint8), ".webp", [cv2.IMWRITE_WEBP_QUALITY, 50])[12:]
    vp8x = (
        bytes([0, 0, 0, 0]) + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    )
    body = b"WEBP" + b"VP8X" + struct.pack("<I", 10) + vp8x + frame
    return b"RIFF" + struct.pack("<I", len(body)) + body


def animated_webp() -> bytes:
    vp8x = bytes([0x02, 0, 0, 0]) + (7).to_bytes(3, "little") + (7).to_bytes(3, "little")
    anim = struct.pack("<IH", 0, 0)
    body = b"WEBP" + b"VP8X" + struct.pack("<I", 10) + vp8x + b"ANIM" + struct.pack("<I", 6) + anim
    return b"RIFF" + struct.pack("<I", len(body)) + body


def pil_bytes(img: PILImage.Image, fmt: str, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def rgb_pil(img: Image) -> PILImage.Image:
    return PILImage.fromarray(np.ascontiguousarray(img[:, :, ::-1]))
