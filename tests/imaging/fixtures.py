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


# --- HEIC/HEIF and AVIF ---------------------------------------------------------------------
# Encoded here, offline: HEIC with pillow-heif (tests only: it bundles the x265 encoder the
# deployed pi-heif leaves out), AVIF with Pillow's own libavif.


def _heif_pil(img: Image, alpha: Image | None) -> PILImage.Image:
    pil = rgb_pil(img)
    if alpha is not None:
        pil.putalpha(PILImage.fromarray(np.ascontiguousarray(alpha)))
    return pil


_STAND_IN = 0xFFF0  # a private tag that encoders keep, renamed to Orientation afterwards


def _exif_block(orientation: int, *, stand_in: bool = False) -> bytes:
    tiff = tiff_exif(orientation)
    if stand_in:
        # Encoders move an EXIF orientation into irot/imir; a stand-in tag survives them.
        tiff = tiff.replace(struct.pack("<HH", 0x0112, 3), struct.pack("<HH", _STAND_IN, 3), 1)
    return b"Exif\x00\x00" + tiff


def heic(
    img: Image,
    orientation: int = 1,
    *,
    alpha: Image | None = None,
    quality: int = 90,
    bit_depth: int = 8,
    exif_only: bool = False,
) -> bytes:
    """HEIC of the stored pixels ``img``; ``orientation`` becomes irot/imir (pillow-heif moves
    an EXIF orientation into the container), or stays in EXIF alone with ``exif_only``."""
    import pillow_heif

    buf = io.BytesIO()
    heif = pillow_heif.from_pillow(_heif_pil(img, alpha))
    kwargs: dict[str, object] = {"quality": quality, "xmp": b"<x:xmpmeta>" + SECRET + b"</x>"}
    if bit_depth != 8:
        pillow_heif.options.SAVE_HDR_TO_12_BIT = bit_depth == 12
        heif = pillow_heif.from_bytes(
            mode="RGB;16",
            size=(img.shape[1], img.shape[0]),
            data=(np.ascontiguousarray(img[:, :, ::-1]).astype(np.uint16) << 8).tobytes(),
        )
    heif.save(buf, format="HEIF", exif=_exif_block(orientation, stand_in=exif_only), **kwargs)
    data = buf.getvalue()
    return _set_exif_orientation(data, orientation) if exif_only else data


def avif(
    img: Image,
    orientation: int = 1,
    *,
    alpha: Image | None = None,
    quality: int = 90,
    exif_only: bool = False,
) -> bytes:
    """AVIF of the stored pixels ``img``; Pillow writes the EXIF orientation as irot/imir."""
    pil = _heif_pil(img, alpha)
    data = pil_bytes(
        pil,
        "AVIF",
        quality=quality,
        exif=_exif_block(orientation, stand_in=exif_only),
        xmp=b"<x:xmpmeta>" + SECRET + b"</x>",
    )
    return _set_exif_orientation(data, orientation) if exif_only else data


def _set_exif_orientation(data: bytes, orientation: int) -> bytes:
    """Rename the stand-in tag to Orientation in place (same length, no irot/imir)."""
    old = struct.pack("<HHIH", _STAND_IN, 3, 1, orientation)
    assert data.count(old) == 1 and b"irot" not in data and b"imir" not in data
    return data.replace(old, struct.pack("<HHIH", 0x0112, 3, 1, orientation))


def _box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", 8 + len(body)) + kind + body


def _full(kind: bytes, body: bytes, version: int = 0, flags: int = 0) -> bytes:
    return _box(kind, bytes([version]) + flags.to_bytes(3, "big") + body)


def heif_grid(
    width: int,
    height: int,
    *,
    rows: int,
    cols: int,
    tile: tuple[int, int],
    brand: bytes = b"heic",
    coding: bytes = b"hvc1",
) -> bytes:
    """A hand-built HEIF whose primary image is a grid of ``rows x cols`` tiles of ``tile`` px.

    The tiles hold a few bytes of junk: only the container is meant to be read.
    """
    n = rows * cols
    ids = list(range(2, 2 + n))
    infe = [_full(b"infe", struct.pack(">HH4s", 1, 0, b"grid") + b"\x00", version=2)]
    infe += [_full(b"infe", struct.pack(">HH4s", i, 0, coding) + b"\x00", version=2) for i in ids]
    iinf = _full(b"iinf", struct.pack(">H", len(infe)) + b"".join(infe))
    dimg = _box(b"dimg", struct.pack(">HH", 1, n) + b"".join(struct.pack(">H", i) for i in ids))
    iref = _full(b"iref", dimg)
    ipco = _box(
        b"ipco",
        _full(b"ispe", struct.pack(">II", width, height))
        + _full(b"ispe", struct.pack(">II", *tile)),
    )
    assoc = struct.pack(">HB", 1, 1) + bytes([0x01])
    assoc += b"".join(struct.pack(">HB", i, 1) + bytes([0x02]) for i in ids)
    ipma = _full(b"ipma", struct.pack(">I", 1 + n) + assoc)
    iprp = _box(b"iprp", ipco + ipma)
    grid = bytes([0, 1, rows - 1, cols - 1]) + struct.pack(">II", width, height)
    idat = _box(b"idat", grid)
    tile_data = b"\x00\x00\x00\x10junk-tile-bytes!"

    def build(mdat_at: int) -> bytes:
        entries = struct.pack(">HHHH", 1, 1, 0, 1) + struct.pack(">II", 0, len(grid))
        for k, i in enumerate(ids):
            entries += struct.pack(">HHHH", i, 0, 0, 1)
            entries += struct.pack(">II", mdat_at + 8 + k * len(tile_data), len(tile_data))
        iloc = _full(b"iloc", struct.pack(">BBH", 0x44, 0x00, 1 + n) + entries, version=1)
        hdlr = _full(b"hdlr", b"\x00" * 4 + b"pict" + b"\x00" * 13)
        pitm = _full(b"pitm", struct.pack(">H", 1))
        meta = _full(b"meta", hdlr + pitm + iloc + iinf + iref + iprp + idat)
        ftyp = _box(b"ftyp", brand + b"\x00\x00\x00\x00" + b"mif1" + brand)
        return ftyp + meta

    head = build(0)
    head = build(len(head))
    return head + _box(b"mdat", tile_data * n)
