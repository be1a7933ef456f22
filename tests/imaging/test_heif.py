"""HEIC/HEIF and AVIF: sniffing, limits from the container, orientation, hostile files, output."""

from __future__ import annotations

import io
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image as PILImage

import imaging
from imaging import ImagingError, Limits, Options, process_image
from imaging.formats import read_header

from . import dataset
from . import fixtures as fx
from .test_decode import _assert_upright, _code, _jpeg_markers, _stored

Encoder = Callable[..., bytes]
ENCODERS: dict[str, Encoder] = {"heif": fx.heic, "avif": fx.avif}
both = pytest.mark.parametrize("fmt", ["heif", "avif"])


def _make(fmt: str, img: np.ndarray, orientation: int = 1, **kw: object) -> bytes:
    return ENCODERS[fmt](img, orientation, **kw)


# --- sniffing ---------------------------------------------------------------------------------


@both
def test_sniffed_from_the_ftyp_brands(fmt: str) -> None:
    data = _make(fmt, fx.quadrants())
    assert data[4:8] == b"ftyp"
    assert imaging.sniff_format(data) == fmt
    assert read_header(data).format == fmt
    res = process_image(data, [], Options(format="png"))
    assert res.source_format == fmt
    assert (res.source_width, res.source_height) == (96, 64)


@both
@pytest.mark.parametrize("size", [(33, 17), (97, 65), (8, 8)])
def test_odd_sizes_use_the_clean_aperture(fmt: str, size: tuple[int, int]) -> None:
    w, h = size
    data = _make(fmt, fx.quadrants(w, h))
    res = process_image(data, [], Options(format="png"))
    assert (res.source_width, res.source_height, res.width, res.height) == (w, h, w, h)


def test_other_iso_media_is_refused() -> None:
    mp4 = b"\x00\x00\x00\x14ftypisom\x00\x00\x02\x00mp41" + b"\x00\x00\x00\x08free"
    assert _code(mp4) == "unsupported_format"
    # An image sequence (moov track), like an animated WebP, is refused by name.
    seq = b"\x00\x00\x00\x14ftypmsf1\x00\x00\x00\x00hevc" + b"\x00\x00\x00\x08moov"
    assert _code(seq) == "unsupported_format"
    avis = b"\x00\x00\x00\x14ftypavis\x00\x00\x00\x00avif" + b"\x00\x00\x00\x08moov"
    assert _code(avis) == "unsupported_format"


def test_primary_coded_with_something_else_is_refused() -> None:
    data = fx.heif_grid(64, 48, rows=2, cols=2, tile=(32, 24), coding=b"j2k1")
    assert _code(data) == "unsupported_format"


# --- limits before the decoder ---------------------------------------------------------------


@pytest.fixture
def no_heif_decoder(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_a: object, **_k: object) -> None:
        raise AssertionError("a decoder ran before the limits were checked")

    monkeypatch.setattr(imaging.codec.pi_heif, "open_heif", boom)
    monkeypatch.setattr(imaging.codec.PILImage, "open", boom)
    # The decoders run in a helper process (imaging/isolated.py), out of the patches' reach.
    monkeypatch.setattr(imaging.codec, "decode_in_helper", boom)


def _with_ispe(data: bytes, width: int, height: int) -> bytes:
    i = data.index(b"ispe")
    return data[: i + 8] + struct.pack(">II", width, height) + data[i + 16 :]


@pytest.mark.usefixtures("no_heif_decoder")
@pytest.mark.parametrize(
    ("build", "code"),
    [
        (lambda: _with_ispe(fx.heic(fx.quadrants()), 60_000, 60_000), "side_too_long"),
        (lambda: _with_ispe(fx.avif(fx.quadrants()), 19_000, 19_000), "too_many_pixels"),
        # A 60000 x 60000 grid of 50 x 50 tiles.
        (
            lambda: fx.heif_grid(60_000, 60_000, rows=50, cols=50, tile=(1200, 1200)),
            "side_too_long",
        ),
        (
            lambda: fx.heif_grid(12_000, 12_000, rows=20, cols=20, tile=(600, 600)),
            "too_many_pixels",
        ),
        # A small canvas over a few huge tiles: the decoder would allocate every tile.
        (
            lambda: fx.heif_grid(1000, 1000, rows=2, cols=2, tile=(8000, 8000)),
            "too_many_pixels",
        ),
        (
            lambda: fx.heif_grid(8000, 8000, rows=4, cols=4, tile=(2000, 2000), brand=b"avif"),
            "too_many_pixels",
        ),
    ],
)
def test_bombs_are_refused_from_the_container(build: Callable[[], bytes], code: str) -> None:
    bomb = build()
    assert len(bomb) < 200_000
    assert _code(bomb) == code


@pytest.mark.usefixtures("no_heif_decoder")
def test_grid_layout_must_agree_with_itself() -> None:
    grid = fx.heif_grid(64, 48, rows=2, cols=2, tile=(32, 24))
    assert read_header(grid).decoded_pixels == 64 * 48
    # Tiles that do not cover the canvas, and a tile count that does not match the layout.
    assert _code(fx.heif_grid(64, 48, rows=2, cols=2, tile=(16, 24))) == "corrupt"
    wrong = grid.replace(bytes([0, 1, 1, 1]), bytes([0, 1, 2, 1]), 1)
    assert _code(wrong) == "corrupt"


@both
def test_limits_apply_to_the_container_size(fmt: str) -> None:
    data = _make(fmt, fx.quadrants())
    assert _code(data, limits=Limits(max_pixels=96 * 64 - 1)) == "too_many_pixels"
    assert _code(data, limits=Limits(max_side=95)) == "side_too_long"
    res = process_image(data, [], limits=Limits(max_pixels=96 * 64, max_side=96))
    assert (res.width, res.height) == (96, 64)


# --- orientation ------------------------------------------------------------------------------


@both
@pytest.mark.parametrize("orientation", range(1, 9))
def test_irot_imir_make_it_upright(fmt: str, orientation: int) -> None:
    data = _make(fmt, _stored(orientation), orientation, quality=95)
    info = read_header(data)
    assert info.orientation == orientation
    if orientation > 1:
        assert b"irot" in data or b"imir" in data
    res = process_image(data, [], Options(format="png"))
    assert (res.source_width, res.source_height) == (96, 64)
    _assert_upright(res.data)


@both
@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_orientation_without_irot_imir(fmt: str, orientation: int) -> None:
    data = _make(fmt, _stored(orientation), orientation, quality=95, exif_only=True)
    assert b"irot" not in data and b"imir" not in data
    res = process_image(data, [], Options(format="png"))
    _assert_upright(res.data)


@both
def test_faces_found_upright_on_a_rotated_photo(fmt: str) -> None:
    upright = dataset.load("grace_hopper_512x512.jpg")
    stored = cv2.rotate(upright, cv2.ROTATE_90_COUNTERCLOCKWISE)  # orientation 6 turns it back
    res = process_image(_make(fmt, stored, 6), ["redact_faces"])
    truth = dataset.REAL_FACES["grace_hopper_512x512.jpg"][0]
    assert len(res.faces) == 1
    f = res.faces[0]
    assert abs(f.x - truth[0]) < 20
    assert abs(f.y - truth[1]) < 25
    assert res.format == "jpeg" and read_header(res.data).format == "jpeg"


# --- hostile and unusual files -----------------------------------------------------------------


@both
@pytest.mark.parametrize("keep", [0.1, 0.3, 0.6, 0.95, -2])
def test_truncated_files_are_refused(fmt: str, keep: float) -> None:
    rng = np.random.default_rng(1)
    data = _make(fmt, rng.integers(0, 255, (120, 160, 3), dtype=np.uint8))
    cut = data[:keep] if isinstance(keep, int) else data[: int(len(data) * keep)]
    assert _code(cut) == "truncated"


@both
def test_damaged_coded_data_is_corrupt(fmt: str) -> None:
    data = bytearray(_make(fmt, fx.quadrants()))
    start = data.index(b"mdat") + 4
    data[start:] = b"\x00" * (len(data) - start)
    assert _code(bytes(data)) == "corrupt"


def test_damaged_alpha_plane_is_corrupt() -> None:
    """Found by the fuzz test: libavif's failure on a broken alpha plane is a RuntimeError."""
    alpha = np.full((24, 32), 128, np.uint8)
    data = bytearray(fx.avif(fx.quadrants(32, 24), alpha=alpha))
    items: dict[int, imaging.heif._Item] = {}
    iloc = data.index(b"iloc") + 4
    end = iloc - 8 + int.from_bytes(data[iloc - 8 : iloc - 4], "big")
    imaging.heif._read_iloc(bytes(data), iloc, end, items)
    assert b"Alpha" in data and len(items) >= 2
    offset, length = items[2].extents[0]  # Pillow writes the colour as item 1, alpha as 2
    data[offset : offset + length] = b"\xff" * length
    assert _code(bytes(data)) == "corrupt"


@both
@pytest.mark.parametrize("box", [b"ipma", b"iloc"])
def test_a_list_box_whose_count_lies_is_corrupt(fmt: str, box: bytes) -> None:
    """Found by the fuzz test: a count past the box's end read past the data (IndexError)."""
    data = bytearray(_make(fmt, fx.quadrants()))
    at = data.index(box) + 4
    if box == b"ipma":
        data[at + 4 : at + 8] = b"\xff\xff\xff\xff"
    else:  # iloc v0/v1: item_count is 16 bits after version, flags and the size nibbles
        data[at + 6 : at + 8] = b"\xff\xff"
    assert _code(bytes(data)) == "corrupt"


def test_multi_image_file_gives_its_primary_image() -> None:
    import pillow_heif

    heif = pillow_heif.from_pillow(fx.rgb_pil(fx.quadrants(32, 32)))
    heif.add_from_pillow(fx.rgb_pil(fx.quadrants(96, 64)))
    for primary, size in ((0, (32, 32)), (1, (96, 64))):
        buf = io.BytesIO()
        heif.save(buf, format="HEIF", primary_index=primary)
        res = process_image(buf.getvalue(), [], Options(format="png"))
        assert (res.width, res.height) == size


@pytest.mark.parametrize("depth", [10, 12])
def test_high_bit_depth_heic_comes_down_to_eight_bits(depth: int) -> None:
    data = fx.heic(fx.quadrants(), bit_depth=depth, quality=95)
    assert imaging.heif.read(data).bit_depth == depth
    res = process_image(data, [], Options(format="png"))
    _assert_upright(res.data)


@both
def test_alpha_is_kept_in_png_and_flattened_in_jpeg(fmt: str) -> None:
    alpha = np.zeros((64, 96), np.uint8)
    alpha[:, 48:] = 255
    data = _make(fmt, fx.quadrants(), alpha=alpha, quality=95)
    assert read_header(data).channels == 4
    png = process_image(data, [], Options(format="png")).data
    out = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)
    assert out.shape == (64, 96, 4)
    assert out[32, 10, 3] < 30 and out[32, 80, 3] > 225
    jpg = process_image(data, [], Options(format="jpeg")).data
    flat = cv2.imdecode(np.frombuffer(jpg, np.uint8), cv2.IMREAD_COLOR)
    assert flat[16, 10].min() > 200  # transparent red flattened on white


# --- the output carries no metadata -----------------------------------------------------------


@both
@pytest.mark.parametrize("out_fmt", ["jpeg", "png", "webp"])
def test_outputs_have_no_metadata(fmt: str, out_fmt: str) -> None:
    data = _make(fmt, _stored(6), 6)
    assert fx.SECRET in data
    res = process_image(data, ["grayscale"], Options(format=out_fmt))
    out = res.data
    for needle in (fx.SECRET, b"Exif", b"xmpmeta", b"ICC_PROFILE", b"ftyp"):
        assert needle not in out
    if out_fmt == "jpeg":
        assert set(_jpeg_markers(out)) <= {0xE0, 0xDB, 0xC0, 0xC4, 0xDD, 0xDA}
    reread = read_header(out)
    assert reread.format == out_fmt and reread.orientation == 1
    assert (res.width, res.height) == (96, 64)
    # Pillow finds no EXIF, XMP or ICC either.
    with PILImage.open(io.BytesIO(out)) as im:
        assert not im.getexif()
        assert "icc_profile" not in im.info and "xmp" not in im.info


def test_errors_are_imaging_errors() -> None:
    with pytest.raises(ImagingError):
        process_image(fx.heif_grid(64, 48, rows=2, cols=2, tile=(32, 24)), [])


# --- a decoder that crashes --------------------------------------------------------------------

SEGFAULT_HEIC = Path(__file__).parent / "data" / "libheif-segfault.heic"


def test_a_file_that_crashes_libheif_is_corrupt_and_the_next_one_decodes() -> None:
    """A mutated HEIC (found by test_fuzz.py) whose metadata makes libheif dereference garbage:
    in a process of its own it dies of a signal; through the pipeline it is `corrupt`, because
    HEIC and AVIF decode in a helper process (imaging/isolated.py), and the next image decodes."""
    data = SEGFAULT_HEIC.read_bytes()
    alone = subprocess.run(
        [
            sys.executable,
            "-c",
            "import io, sys, pi_heif; pi_heif.open_heif(io.BytesIO(sys.stdin.buffer.read()))",
        ],
        input=data,
        capture_output=True,
        check=False,
    )
    assert alone.returncode < 0, "this file no longer crashes libheif: pick a new one"
    for _ in range(2):
        with pytest.raises(ImagingError) as caught:
            process_image(data, ["grayscale"], Options(format="png"))
        assert caught.value.code == "corrupt"
        assert "crashed" in caught.value.message
        good = process_image(fx.heic(fx.quadrants()), ["grayscale"], Options(format="png"))
        assert good.source_format == "heif"
