"""HEIF/AVIF container (ISO BMFF) parsing, done by hand before any decoder sees the bytes.

libheif and libavif allocate the whole canvas (or every tile of a grid) as soon as they decode,
so the primary image's size, its grid layout, its rotation/mirroring and its EXIF orientation are
read here from the ``meta`` box alone; a bomb is refused from a few hundred bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from .errors import ImagingError

# Brands in `ftyp` that announce still HEIF images; AVIF files carry `avif` (and often `mif1`).
HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"mif1", b"mif2", b"MiHE"})
AVIF_BRANDS = frozenset({b"avif"})
# Image sequences (bursts, animations): a `moov` track, not a still image.
SEQUENCE_BRANDS = frozenset({b"avis", b"msf1", b"hevc", b"hevx", b"hevm", b"hevs"})

_CODED = {b"hvc1": "heif", b"av01": "avif"}
# Boxes in one container box; a grid may list 65,536 tiles, each with its own infe box.
_MAX_BOXES = 1 << 17  # a 256 x 256 grid has 65,537 items


def _corrupt(message: str) -> ImagingError:
    return ImagingError("corrupt", message)


def _truncated() -> ImagingError:
    return ImagingError("truncated", "The HEIF/AVIF data ends before the image is complete.")


def brands(data: bytes) -> frozenset[bytes] | None:
    """The major and compatible brands of a leading `ftyp` box, or None when there is none."""
    if len(data) < 12 or data[4:8] != b"ftyp":
        return None
    (size,) = struct.unpack_from(">I", data, 0)
    if size < 16 or size > len(data) or size % 4:
        return frozenset({data[8:12]})
    return frozenset({data[8:12], *(data[i : i + 4] for i in range(16, size, 4))})


def sniff(data: bytes) -> str | None:
    """Name "avif" or "heif" from the `ftyp` brands alone; None when neither is announced."""
    found = brands(data)
    if found is None:
        return None
    if found & AVIF_BRANDS or b"avis" in found:
        return "avif"
    if found & (HEIF_BRANDS | SEQUENCE_BRANDS):
        return "heif"
    return None


@dataclass(frozen=True)
class HeifInfo:
    """What the `meta` box says about the primary image, read without decoding any pixel."""

    format: str  # "heif" (HEVC) or "avif" (AV1), from the primary item's coding
    width: int  # as stored (ispe), before irot/imir
    height: int
    transform: int  # irot/imir composed, as an EXIF orientation 1..8 (1 when there are none)
    exif: bytes | None  # the primary image's EXIF (TIFF structure), for its orientation
    tiles: int  # grid tiles decoded (1 when not a grid)
    decoded_pixels: int  # pixels the decoder allocates: all tiles of a grid
    has_alpha: bool
    bit_depth: int
    container_orientation: bool  # True when irot/imir (not EXIF) gave the orientation


@dataclass
class _Item:
    type: bytes = b""
    props: list[int] = field(default_factory=list)
    extents: list[tuple[int, int]] = field(default_factory=list)
    method: int = 0


def _boxes(data: bytes, start: int, end: int) -> list[tuple[bytes, int, int]]:
    """(type, payload start, payload end) of the boxes in data[start:end]."""
    out: list[tuple[bytes, int, int]] = []
    i = start
    while i < end:
        if i + 8 > end:
            raise _truncated()
        size, kind = struct.unpack_from(">I4s", data, i)
        head = 8
        if size == 1:
            if i + 16 > end:
                raise _truncated()
            (size,) = struct.unpack_from(">Q", data, i + 8)
            head = 16
        elif size == 0:
            size = end - i
        if size < head:
            raise _corrupt("A HEIF box has an impossible size.")
        if i + size > end:
            raise _truncated()
        out.append((kind, i + head, i + size))
        if len(out) > _MAX_BOXES:
            raise _corrupt("The HEIF file has too many boxes.")
        i += size
    return out


def _uint(data: bytes, pos: int, size: int) -> int:
    if size == 0:
        return 0
    if pos + size > len(data):
        raise struct.error("short")
    return int.from_bytes(data[pos : pos + size], "big")


def read(data: bytes) -> HeifInfo:
    """Parse the container; ImagingError for anything that is not a complete still image."""
    try:
        return _read(data)
    except (struct.error, IndexError) as exc:
        raise _corrupt("A HEIF box is shorter than its contents.") from exc


def _read(data: bytes) -> HeifInfo:  # noqa: PLR0912, PLR0915 - one branch per box kind
    top = _boxes(data, 0, len(data))
    if any(k == b"moov" for k, _, _ in top):
        # Like animated WebP: which frame to redact is not ours to guess.
        raise ImagingError(
            "unsupported_format", "HEIF/AVIF image sequences and animations are not supported."
        )
    meta = next(((s, e) for k, s, e in top if k == b"meta"), None)
    if meta is None:
        raise _corrupt("The HEIF file has no meta box.")
    m0, m1 = meta
    children = _boxes(data, m0 + 4, m1)  # meta is a full box: skip version and flags
    items: dict[int, _Item] = {}
    primary: int | None = None
    props: list[tuple[bytes, int, int]] = []
    refs: list[tuple[bytes, int, list[int]]] = []
    idat = (0, 0)
    for kind, s, e in children:
        version = data[s] if s < e else 0
        if kind == b"pitm":
            primary = _uint(data, s + 4, 2 if version == 0 else 4)
        elif kind == b"iinf":
            n = 2 if version == 0 else 4
            for ik, i0, _i1 in _boxes(data, s + 4 + n, e):
                if ik != b"infe":
                    continue
                iv = data[i0]
                if iv < 2:
                    continue
                idsize = 2 if iv == 2 else 4
                item_id = _uint(data, i0 + 4, idsize)
                kind4 = data[i0 + 4 + idsize + 2 : i0 + 4 + idsize + 6]
                items.setdefault(item_id, _Item()).type = kind4
        elif kind == b"iref":
            idsize = 2 if version == 0 else 4
            for rk, r0, r1 in _boxes(data, s + 4, e):
                src = _uint(data, r0, idsize)
                count = _uint(data, r0 + idsize, 2)
                if r0 + idsize + 2 + count * idsize > r1:
                    raise _corrupt("A HEIF item reference is longer than its box.")
                dst = [_uint(data, r0 + idsize + 2 + k * idsize, idsize) for k in range(count)]
                refs.append((rk, src, dst))
        elif kind == b"iprp":
            for pk, p0, p1 in _boxes(data, s, e):
                if pk == b"ipco":
                    props = _boxes(data, p0, p1)
                elif pk == b"ipma":
                    _read_ipma(data, p0, p1, items)
        elif kind == b"iloc":
            _read_iloc(data, s, e, items)
        elif kind == b"idat":
            idat = (s, e)
    if primary is None or primary not in items:
        raise _corrupt("The HEIF file names no primary image.")
    # Every extent stored in the file (not in idat) must lie inside it: a cut-short mdat is
    # "truncated" here rather than a decoder error later.
    for item in items.values():
        if item.method == 0 and any(off + length > len(data) for off, length in item.extents):
            raise _truncated()

    def prop(item: _Item, kind: bytes) -> tuple[int, int] | None:
        for index in item.props:
            if 1 <= index <= len(props) and props[index - 1][0] == kind:
                return props[index - 1][1], props[index - 1][2]
        return None

    def ispe(item_id: int) -> tuple[int, int]:
        box = prop(items[item_id], b"ispe")
        if box is None:
            raise _corrupt("A HEIF image has no size (ispe) property.")
        w, h = struct.unpack_from(">II", data, box[0] + 4)
        return w, h

    main = items[primary]
    width, height = ispe(primary)
    tiles = 1
    decoded = width * height
    clap = prop(main, b"clap")
    coded = main.type
    if main.type == b"grid":
        dimg = [dst for k, src, dst in refs if k == b"dimg" and src == primary]
        if not dimg or not dimg[0]:
            raise _corrupt("The HEIF grid names no tiles.")
        tile_ids = dimg[0]
        for tid in tile_ids:
            if tid not in items:
                raise _corrupt("A HEIF grid tile is missing.")
        rows, cols, out_w, out_h = _grid(data, main, idat)
        if rows * cols != len(tile_ids):
            raise _corrupt("The HEIF grid's tile count does not match its layout.")
        if (out_w, out_h) != (width, height):
            raise _corrupt("The HEIF grid's size differs from its ispe property.")
        tw, th = ispe(tile_ids[0])
        if tw * cols < out_w or th * rows < out_h:
            raise _corrupt("The HEIF grid's tiles do not cover its canvas.")
        tiles = len(tile_ids)
        decoded = max(decoded, tw * th * tiles)
        coded = items[tile_ids[0]].type
    fmt = _CODED.get(coded)
    if fmt is None:
        raise ImagingError(
            "unsupported_format",
            f"The HEIF primary image is coded as {coded.decode('latin-1')!r}, not HEVC or AV1.",
        )
    if clap is not None and fmt == "heif":
        # HEVC codes whole blocks; the clean aperture is the picture libheif returns (libavif
        # leaves AVIF uncropped, so there the coded size stands).
        width, height = _clean_aperture(data, clap, width, height)
    steps: list[tuple[bytes, int]] = []
    for index in main.props:
        if 1 <= index <= len(props) and props[index - 1][0] in (b"irot", b"imir"):
            kind, s, e = props[index - 1]
            if s >= e:
                raise _corrupt("A HEIF rotation or mirror property is empty.")
            steps.append((kind, data[s]))
    alpha = any(
        k == b"auxl" and primary in dst and _is_alpha(data, items.get(src), props)
        for k, src, dst in refs
    )
    depth = 8
    pixi = prop(main, b"pixi")
    if pixi is None and main.type == b"grid":
        pixi = prop(items[dimg[0][0]], b"pixi")
    if pixi is not None and pixi[1] - pixi[0] >= 6:
        depth = data[pixi[0] + 5]
    return HeifInfo(
        format=fmt,
        width=width,
        height=height,
        transform=_compose(steps),
        exif=_exif(data, items, refs, primary, idat),
        tiles=tiles,
        decoded_pixels=decoded,
        has_alpha=alpha,
        bit_depth=depth,
        container_orientation=bool(steps),
    )


def _clean_aperture(data: bytes, box: tuple[int, int], width: int, height: int) -> tuple[int, int]:
    if box[1] - box[0] < 16:
        raise _corrupt("The HEIF clean aperture property is too short.")
    wn, wd, hn, hd = struct.unpack_from(">IIII", data, box[0])
    if wd == 0 or hd == 0:
        raise _corrupt("The HEIF clean aperture has a zero denominator.")
    # Rounded as libheif rounds its fractions.
    w, h = (wn + wd // 2) // wd, (hn + hd // 2) // hd
    if not (0 < w <= width and 0 < h <= height):
        raise _corrupt("The HEIF clean aperture lies outside the image.")
    return w, h


def _past(i: int, end: int) -> None:
    # Every entry of a list box lies inside the box: a count that runs past it is a lie, and
    # stopping here also bounds the work a huge count could ask for.
    if i > end:
        raise _corrupt("A HEIF box lists more entries than it holds.")


def _read_ipma(data: bytes, s: int, e: int, items: dict[int, _Item]) -> None:
    version = data[s]
    flags = _uint(data, s + 1, 3)
    count = _uint(data, s + 4, 4)
    i = s + 8
    idsize = 2 if version < 1 else 4
    for _ in range(count):
        _past(i + idsize + 1, e)
        item_id = _uint(data, i, idsize)
        i += idsize
        n = data[i]
        i += 1
        _past(i + n * (2 if flags & 1 else 1), e)
        for _k in range(n):
            if flags & 1:
                index = _uint(data, i, 2) & 0x7FFF
                i += 2
            else:
                index = data[i] & 0x7F
                i += 1
            items.setdefault(item_id, _Item()).props.append(index)


def _read_iloc(data: bytes, s: int, e: int, items: dict[int, _Item]) -> None:
    version = data[s]
    sizes = _uint(data, s + 4, 2)
    off_size, len_size, base_size = sizes >> 12, (sizes >> 8) & 15, (sizes >> 4) & 15
    index_size = sizes & 15 if version in (1, 2) else 0
    i = s + 6
    count = _uint(data, i, 2 if version < 2 else 4)
    i += 2 if version < 2 else 4
    for _ in range(count):
        _past(i, e)
        idsize = 2 if version < 2 else 4
        item_id = _uint(data, i, idsize)
        i += idsize
        method = 0
        if version in (1, 2):
            method = _uint(data, i, 2) & 15
            i += 2
        i += 2  # data_reference_index
        base = _uint(data, i, base_size)
        i += base_size
        extents = _uint(data, i, 2)
        i += 2
        _past(i + extents * (index_size + off_size + len_size), e)
        item = items.setdefault(item_id, _Item())
        item.method = method
        for _e in range(extents):
            i += index_size
            off = _uint(data, i, off_size)
            i += off_size
            length = _uint(data, i, len_size)
            i += len_size
            item.extents.append((base + off, length))


def _payload(data: bytes, item: _Item, idat: tuple[int, int]) -> bytes:
    if item.method == 1:
        s, e = idat
        parts = [data[s + off : s + off + length] for off, length in item.extents]
        if any(s + off + length > e for off, length in item.extents):
            raise _corrupt("A HEIF item lies outside its idat box.")
    elif item.method == 0:
        parts = [data[off : off + length] for off, length in item.extents]
    else:
        raise _corrupt("A HEIF item uses an unsupported construction method.")
    return b"".join(parts)


def _grid(data: bytes, item: _Item, idat: tuple[int, int]) -> tuple[int, int, int, int]:
    body = _payload(data, item, idat)
    if len(body) < 8:
        raise _corrupt("The HEIF grid descriptor is too short.")
    flags, rows, cols = body[1], body[2] + 1, body[3] + 1
    if flags & 1:
        if len(body) < 12:
            raise _corrupt("The HEIF grid descriptor is too short.")
        w, h = struct.unpack_from(">II", body, 4)
    else:
        w, h = struct.unpack_from(">HH", body, 4)
    return rows, cols, w, h


def _is_alpha(data: bytes, item: _Item | None, props: list[tuple[bytes, int, int]]) -> bool:
    if item is None:
        return False
    for index in item.props:
        if 1 <= index <= len(props) and props[index - 1][0] == b"auxC":
            _, s, e = props[index - 1]
            urn = data[s + 4 : e].split(b"\x00", 1)[0]
            return urn.endswith(b":auxid:1") or urn.endswith(b":alpha")
    return False


def _exif(
    data: bytes,
    items: dict[int, _Item],
    refs: list[tuple[bytes, int, list[int]]],
    primary: int,
    idat: tuple[int, int],
) -> bytes | None:
    for kind, src, dst in refs:
        item = items.get(src)
        if kind == b"cdsc" and primary in dst and item is not None and item.type == b"Exif":
            body = _payload(data, item, idat)
            if len(body) < 4:
                return None
            (skip,) = struct.unpack_from(">I", body, 0)
            return body[4 + skip :]
    return None


# The eight EXIF orientations as what they do to a stored 2x3 grid of labels (same mapping as
# codec.apply_orientation), so a sequence of irot/imir steps is named by its result. Plain
# tuples: the upload API imports this module and must not load numpy.
Grid = tuple[tuple[int, ...], ...]
_PROBE: Grid = ((0, 1, 2), (3, 4, 5))


def _flip_lr(g: Grid) -> Grid:
    return tuple(row[::-1] for row in g)


def _flip_tb(g: Grid) -> Grid:
    return g[::-1]


def _transpose(g: Grid) -> Grid:
    return tuple(zip(*g, strict=True))


def _rot_ccw(g: Grid) -> Grid:
    return _flip_tb(_transpose(g))


def _rot_cw(g: Grid) -> Grid:
    return _flip_lr(_transpose(g))


_EXIF_RESULT: dict[int, Grid] = {
    1: _PROBE,
    2: _flip_lr(_PROBE),
    3: _flip_tb(_flip_lr(_PROBE)),
    4: _flip_tb(_PROBE),
    5: _transpose(_PROBE),
    6: _rot_cw(_PROBE),
    7: _flip_tb(_flip_lr(_transpose(_PROBE))),
    8: _rot_ccw(_PROBE),
}


def _compose(steps: list[tuple[bytes, int]]) -> int:
    """irot (anticlockwise quarter turns) and imir in the order listed, as one EXIF code.

    imir axis 0 exchanges top and bottom, axis 1 left and right (ISO/IEC 23008-12:2022
    6.5.12, as libheif and libavif read it; the 2017 wording was ambiguous).
    """
    grid = _PROBE
    for kind, value in steps:
        if kind == b"irot":
            for _ in range(value & 3):
                grid = _rot_ccw(grid)
        elif value & 1:
            grid = _flip_lr(grid)
        else:
            grid = _flip_tb(grid)
    for code, result in _EXIF_RESULT.items():
        if result == grid:
            return code
    raise AssertionError("the dihedral group has eight elements")
