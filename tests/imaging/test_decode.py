"""Safe decoding: sniffing, limits before pixels, truncation, odd layouts, metadata-free output."""

from __future__ import annotations

import struct

import cv2
import numpy as np
import pytest
from PIL import Image as PILImage
from PIL import ImageOps

import imaging
from imaging import ImagingError, Limits, Options, process_image
from imaging.formats import read_header

from . import fixtures as fx


def _decode(data: bytes, flags: int = cv2.IMREAD_UNCHANGED) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    assert img is not None
    return img


def _code(data: bytes, ops: list[str] | None = None, **kw: object) -> str:
    with pytest.raises(ImagingError) as exc:
        process_image(data, ops or ["grayscale"], **kw)  # type: ignore[arg-type]
    return exc.value.code


# --- sniffing and refusal codes -------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "empty_input"),
        (b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "unsupported_format"),
        (b"BM" + b"\x00" * 60, "unsupported_format"),
        (b"II*\x00" + b"\x00" * 60, "unsupported_format"),
        (b"\x00\x00\x00\x18ftypheic" + b"\x00" * 40, "corrupt"),
        (b"\x00\x00\x00\x18ftypisom" + b"\x00" * 40, "unsupported_format"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "unsupported_format"),
        (b"%PDF-1.7\n", "unsupported_format"),
        (b"\xff\xd8", "unsupported_format"),
        (b"\xff\xd8\xff", "truncated"),
        (b"\x89PNG\r\n\x1a\n", "truncated"),
        (b"RIFF\x04\x00\x00\x00WEBP", "corrupt"),
    ],
)
def test_refusals_have_distinct_codes(data: bytes, code: str) -> None:
    assert _code(data) == code


def test_sniff_ignores_names_and_reads_bytes() -> None:
    png = fx.encode(fx.quadrants(), ".png")
    assert imaging.sniff_format(png) == "png"
    assert imaging.sniff_format(fx.encode(fx.quadrants(), ".jpg")) == "jpeg"
    assert imaging.sniff_format(fx.encode(fx.quadrants(), ".webp")) == "webp"
    with pytest.raises(ImagingError) as exc:
        imaging.sniff_format(b"")
    assert exc.value.code == "empty_input"


def test_animated_webp_is_refused() -> None:
    assert _code(fx.animated_webp()) == "unsupported_format"


# --- limits before the decoder ---------------------------------------------------------------


@pytest.fixture
def no_decoder(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_a: object, **_k: object) -> None:
        raise AssertionError("the decoder ran before the limits were checked")

    monkeypatch.setattr(imaging.codec.cv2, "imdecode", boom)


@pytest.mark.usefixtures("no_decoder")
@pytest.mark.parametrize(
    ("bomb", "code"),
    [
        (fx.png_bomb(), "side_too_long"),
        (fx.png_bomb(19_000, 19_000), "too_many_pixels"),
        (fx.jpeg_bomb(), "side_too_long"),
        (fx.jpeg_bomb(10_000, 10_000), "too_many_pixels"),
        (fx.webp_bomb(), "too_many_pixels"),
    ],
)
def test_bombs_are_refused_from_the_header(bomb: bytes, code: str) -> None:
    assert len(bomb) < 8_000
    assert _code(bomb) == code


@pytest.mark.usefixtures("no_decoder")
def test_limits_are_configurable() -> None:
    png = fx.encode(fx.quadrants(96, 64), ".png")
    assert _code(png, limits=Limits(max_pixels=96 * 64 - 1)) == "too_many_pixels"
    assert _code(png, limits=Limits(max_side=95)) == "side_too_long"
    assert _code(png, limits=Limits(max_bytes=len(png) - 1)) == "too_many_bytes"


def test_limits_at_the_edge_pass() -> None:
    png = fx.encode(fx.quadrants(96, 64), ".png")
    res = process_image(png, [], limits=Limits(max_pixels=96 * 64, max_side=96, max_bytes=len(png)))
    assert (res.width, res.height) == (96, 64)


def test_default_limits() -> None:
    lim = Limits()
    assert lim.max_pixels == 50_000_000
    assert lim.max_bytes == 20 * 1024 * 1024
    with pytest.raises(ValueError, match="positive"):
        Limits(max_pixels=0)


# --- truncation and corruption ----------------------------------------------------------------


@pytest.mark.parametrize("ext", [".jpg", ".png", ".webp"])
@pytest.mark.parametrize("keep", [0.3, 0.6, 0.95, -2])
def test_truncated_files_are_refused(ext: str, keep: float) -> None:
    rng = np.random.default_rng(1)
    img = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
    data = fx.encode(img, ext)
    cut = data[:keep] if isinstance(keep, int) else data[: int(len(data) * keep)]
    assert _code(cut) == "truncated"


def test_progressive_jpeg_truncated_between_scans() -> None:
    rng = np.random.default_rng(2)
    img = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    data = fx.encode(img, ".jpg", [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    second_scan = data.index(b"\xff\xda", data.index(b"\xff\xda") + 2)
    assert _code(data[:second_scan]) == "truncated"
    assert process_image(data, ["grayscale"]).width == 64


def test_corrupt_png_checksum_and_layout() -> None:
    data = bytearray(fx.encode(fx.quadrants(), ".png"))
    data[20] ^= 0xFF  # inside IHDR: the CRC no longer matches
    assert _code(bytes(data)) == "corrupt"
    no_idat = data[:33] + fx.png_chunk(b"IEND", b"")
    no_idat[20] ^= 0xFF
    assert _code(bytes(no_idat)) == "corrupt"


def test_corrupt_pixel_data_never_crashes() -> None:
    data = bytearray(fx.encode(fx.quadrants(), ".png"))
    idat = data.index(b"IDAT")
    data[idat + 8 : idat + 40] = b"\x55" * 32
    # The container is intact, the compressed stream is not: refused as corrupt, no crash.
    assert _code(bytes(data)) == "corrupt"


def test_polyglot_payload_does_not_survive() -> None:
    payload = b"PK\x03\x04" + b"<script>alert(1)</script>" * 10
    jpeg = fx.encode(fx.quadrants(), ".jpg") + payload
    res = process_image(jpeg, [])
    assert b"<script>" not in res.data
    assert res.data.endswith(b"\xff\xd9")
    html_first = b"<html>" + fx.encode(fx.quadrants(), ".jpg")
    assert _code(html_first) == "unsupported_format"


def test_png_signature_with_jpeg_body_is_corrupt() -> None:
    jpeg = fx.encode(fx.quadrants(), ".jpg")
    assert _code(b"\x89PNG\r\n\x1a\n" + jpeg[2:]) in {"corrupt", "truncated"}


# --- odd pixel layouts --------------------------------------------------------------------------


def _centre_bgr(data: bytes) -> tuple[int, ...]:
    img = _decode(data, cv2.IMREAD_COLOR)
    h, w = img.shape[:2]
    return tuple(int(v) for v in img[h // 4, w // 4])


def test_cmyk_jpeg() -> None:
    rgb = fx.rgb_pil(fx.quadrants())
    data = fx.pil_bytes(rgb.convert("CMYK"), "JPEG", quality=95)
    assert read_header(data).channels == 4
    res = process_image(data, [], Options(format="png"))
    b, g, r = _centre_bgr(res.data)
    assert r > 200
    assert g < 60
    assert b < 60


def test_sixteen_bit_png() -> None:
    img16 = fx.quadrants().astype(np.uint16) * 257
    res = process_image(fx.encode(img16, ".png"), [], Options(format="png"))
    assert _decode(res.data).dtype == np.uint8
    assert _centre_bgr(res.data) == (0, 0, 255)


@pytest.mark.parametrize("mode", ["L", "1", "P", "LA", "RGBA", "I;16"])
def test_pil_modes(mode: str) -> None:
    pil = fx.rgb_pil(fx.quadrants())
    src = pil.convert("L").convert("I;16") if mode == "I;16" else pil.convert(mode)
    data = fx.pil_bytes(src, "PNG")
    res = process_image(data, ["grayscale"], Options(format="png"))
    assert (res.width, res.height) == (96, 64)


def test_palette_with_transparency_keeps_alpha_in_png_and_flattens_in_jpeg() -> None:
    rgba = np.zeros((64, 96, 4), np.uint8)
    rgba[:, :48] = (0, 0, 255, 255)
    rgba[:, 48:] = (0, 255, 0, 0)  # fully transparent green
    png = fx.encode(rgba, ".png")
    out_png = process_image(png, [], Options(format="png"))
    back = _decode(out_png.data)
    assert back.shape == (64, 96, 4)
    assert int(back[10, 80, 3]) == 0
    out_jpg = process_image(png, [], Options(format="jpeg"))
    flat = _decode(out_jpg.data, cv2.IMREAD_COLOR)
    assert min(int(v) for v in flat[10, 80]) > 240  # transparent becomes white
    out_webp = process_image(png, ["grayscale"], Options(format="webp"))
    assert _decode(out_webp.data).shape[2] == 4


def test_gray_jpeg_in_colour_ops_out() -> None:
    gray = cv2.cvtColor(fx.quadrants(), cv2.COLOR_BGR2GRAY)
    res = process_image(fx.encode(gray, ".jpg"), ["mosaic"], Options(format="webp"))
    assert (res.width, res.height) == (96, 64)


# --- EXIF orientation -------------------------------------------------------------------------

# What a viewer does for each orientation (Pillow's exif_transpose); we store the inverse.
_STORE = {
    1: None,
    2: PILImage.Transpose.FLIP_LEFT_RIGHT,
    3: PILImage.Transpose.ROTATE_180,
    4: PILImage.Transpose.FLIP_TOP_BOTTOM,
    5: PILImage.Transpose.TRANSPOSE,
    6: PILImage.Transpose.ROTATE_90,
    7: PILImage.Transpose.TRANSVERSE,
    8: PILImage.Transpose.ROTATE_270,
}


def _stored(orientation: int) -> np.ndarray:
    pil = fx.rgb_pil(fx.quadrants())
    method = _STORE[orientation]
    if method is not None:
        pil = pil.transpose(method)
    return np.ascontiguousarray(np.asarray(pil)[:, :, ::-1])


def _assert_upright(data: bytes) -> None:
    img = _decode(data, cv2.IMREAD_COLOR)
    assert img.shape[:2] == (64, 96)
    expect = {
        (16, 24): (0, 0, 255),
        (16, 72): (0, 255, 0),
        (48, 24): (255, 0, 0),
        (48, 72): (255, 255, 255),
    }
    for (y, x), colour in expect.items():
        got = tuple(int(v) for v in img[y, x])
        assert all(abs(a - b) < 40 for a, b in zip(got, colour, strict=True)), (y, x, got)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_jpeg_all_eight(orientation: int) -> None:
    data = fx.jpeg_with_metadata(_stored(orientation), orientation)
    # Our reading agrees with Pillow's.
    pil = ImageOps.exif_transpose(PILImage.open(__import__("io").BytesIO(data)))
    assert pil is not None
    assert pil.size == (96, 64)
    res = process_image(data, [], Options(format="png"))
    assert (res.source_width, res.source_height) == (96, 64)
    _assert_upright(res.data)


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_orientation_png_and_webp(orientation: int) -> None:
    for data in (fx.png_with_metadata(_stored(orientation), orientation),
                 fx.webp_with_metadata(_stored(orientation), orientation)):  # fmt: skip
        res = process_image(data, ["resize"], Options(format="png", max_side=96))
        _assert_upright(res.data)


# --- outputs carry no metadata ------------------------------------------------------------------


def _jpeg_markers(data: bytes) -> list[int]:
    markers, i = [], 2
    while i < len(data):
        assert data[i] == 0xFF
        m = data[i + 1]
        markers.append(m)
        if m == 0xDA:
            break
        (n,) = struct.unpack(">H", data[i + 2 : i + 4])
        i += 2 + n
    return markers


def _png_chunks(data: bytes) -> list[bytes]:
    out, i = [], 8
    while i < len(data):
        n, t = struct.unpack(">I4s", data[i : i + 8])
        out.append(t)
        i += 12 + n
    return out


def _webp_chunks(data: bytes) -> list[bytes]:
    out, i = [], 12
    while i + 8 <= len(data):
        t, n = struct.unpack("<4sI", data[i : i + 8])
        out.append(t)
        i += 8 + n + (n & 1)
    return out


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp"])
@pytest.mark.parametrize("source", ["jpeg", "png", "webp"])
def test_outputs_have_no_metadata(fmt: str, source: str) -> None:
    build = {
        "jpeg": fx.jpeg_with_metadata,
        "png": fx.png_with_metadata,
        "webp": fx.webp_with_metadata,
    }
    data = build[source](_stored(6), 6)
    assert fx.SECRET in data
    res = process_image(data, ["grayscale"], Options(format=fmt))
    out = res.data
    for needle in (
        fx.SECRET,
        b"Exif",
        b"http://ns.adobe.com",
        b"Photoshop",
        b"ICC_PROFILE",
        b"8BIM",
    ):
        assert needle not in out
    if fmt == "jpeg":
        markers = _jpeg_markers(out)
        assert set(markers) <= {0xE0, 0xDB, 0xC0, 0xC4, 0xDD, 0xDA}, [hex(m) for m in markers]
    elif fmt == "png":
        assert set(_png_chunks(out)) <= {b"IHDR", b"PLTE", b"IDAT", b"IEND"}
    else:
        assert set(_webp_chunks(out)) <= {b"VP8 ", b"VP8L", b"VP8X", b"ALPH"}
    # Re-reading the output: upright pixels, orientation 1, nothing to strip.
    assert read_header(out).orientation == 1
    assert (res.width, res.height) == (96, 64)


def test_grayscale_jpeg_is_single_channel() -> None:
    res = process_image(fx.encode(fx.quadrants(), ".jpg"), ["grayscale"])
    assert read_header(res.data).channels == 1
