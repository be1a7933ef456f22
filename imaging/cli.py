"""Command line: ``python -m imaging apply|faces``.

apply IN OUT --op grayscale --op mosaic_faces [--format webp] [--quality 85] [--max-side N]
apply DIR OUTDIR ...      every JPEG/PNG/WebP in DIR (not recursive), with a progress bar
apply IN OUT --op mosaic_faces --boxes BOXES.json
                          redact exactly the boxes in BOXES.json, no detection (one file only)
faces IMAGE... [--json]   one JSON object a line: {"path","width","height","faces":[...]}

BOXES.json is what ``faces IN --json`` writes (one line; with several lines, the one whose
"path" is IN), or a JSON list of {"x","y","w","h"} boxes, or {"faces": [...]} /
{"boxes": [...]}: upright source pixels, as ``faces`` reports them (redaction pads them the
same way). So ``faces IN --json > b.json``, edit (delete a box to release that face, add one
for a face it missed), ``apply IN OUT --op mosaic_faces --boxes b.json`` is a review loop.

A bad input prints one line ``PATH: code: message`` to stderr and the exit status is 1 after
the other files were processed; a usage error, or a BOXES.json that is not a valid box list,
exits 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TextIO

from .catalog import FACE_OPS
from .codec import decode
from .detect import detect_faces, detector_name
from .errors import ImagingError
from .formats import read_header, upright_size
from .ops import OPERATIONS
from .pipeline import process_image
from .types import EXTENSIONS, FORMATS, FaceBox, Limits, Options, whole_number

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe", ".png", ".webp", ".heic", ".heif", ".avif"})


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m imaging", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    a = sub.add_parser("apply", help="process a file, or every image in a folder")
    a.add_argument("src", type=Path)
    a.add_argument("dest", type=Path)
    a.add_argument("--op", action="append", default=[], choices=sorted(OPERATIONS))
    a.add_argument("--format", choices=FORMATS, default=None)
    a.add_argument("--quality", type=int, default=85)
    a.add_argument("--max-side", type=int, default=None)
    a.add_argument("--min-face", type=int, default=24)
    a.add_argument("--preview", action="store_true", help="draw face boxes instead of redacting")
    a.add_argument("--no-progress", action="store_true")
    a.add_argument(
        "--boxes",
        type=Path,
        default=None,
        help="redact exactly these face boxes (JSON, e.g. from `faces IN --json`), no detection",
    )
    f = sub.add_parser("faces", help="report face boxes (upright original pixels, unpadded)")
    f.add_argument("images", type=Path, nargs="+")
    f.add_argument("--json", action="store_true", help="one JSON object a line (the default)")
    f.add_argument("--min-face", type=int, default=24)
    return p


def _err(path: Path, exc: ImagingError | OSError, stream: TextIO) -> None:
    if isinstance(exc, ImagingError):
        print(f"{path}: {exc.code}: {exc.message}", file=stream)
    else:
        print(f"{path}: io_error: {exc.strerror or exc}", file=stream)


def _format_for(path: Path, explicit: str | None) -> str:
    if explicit:
        return explicit
    suffix = path.suffix.lower()
    return {".png": "png", ".webp": "webp"}.get(suffix, "jpeg")


class _Progress:
    """A one-line progress bar on stderr (only when it is a terminal, unless forced)."""

    def __init__(self, total: int, stream: TextIO, enabled: bool) -> None:
        self.total, self.stream, self.enabled = total, stream, enabled
        self.start = time.monotonic()

    def update(self, done: int, name: str) -> None:
        if not self.enabled:
            return
        width = 30
        filled = round(width * done / max(1, self.total))
        rate = done / max(1e-6, time.monotonic() - self.start)
        bar = "#" * filled + "-" * (width - filled)
        line = f"\r[{bar}] {done}/{self.total} {rate:.1f}/s {name[:40]:<40}"
        self.stream.write(line)
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


# As many boxes as the API's revisions accept; more is a mistake, not a photo.
MAX_BOXES = 256
_BOX_KEYS = frozenset({"x", "y", "w", "h"})


class BoxesError(ValueError):
    """BOXES.json is not a box list this command can apply (a usage error: exit 2)."""


def _boxes_record(text: str, src: Path) -> object:
    """The JSON value that holds the boxes: the whole file, or one line of `faces --json`."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    try:
        lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as exc:
        raise BoxesError(f"not JSON (line {exc.lineno}: {exc.msg})") from None
    if not lines:
        raise BoxesError("empty file")
    if len(lines) == 1:
        return lines[0]
    mine = [r for r in lines if isinstance(r, dict) and _same_file(r.get("path"), src)]
    if len(mine) != 1:
        raise BoxesError(f'{len(lines)} lines and {len(mine)} with "path" {str(src)!r}')
    return mine[0]


def _same_file(path: object, src: Path) -> bool:
    if not isinstance(path, str):
        return False
    try:
        return Path(path).resolve() == src.resolve()
    except OSError:
        return False


def _box(raw: object, i: int, width: int, height: int) -> FaceBox:
    if not isinstance(raw, dict):
        raise BoxesError(f"box {i}: not an object with x, y, w, h")
    unknown = set(raw) - _BOX_KEYS - {"score"}
    missing = _BOX_KEYS - set(raw)
    if unknown or missing:
        what = f"unknown field {sorted(unknown)[0]!r}" if unknown else f"no {sorted(missing)[0]!r}"
        raise BoxesError(f"box {i}: {what} (a box is x, y, w, h and optionally score)")
    # JSON has one number type: 12.0 is 12, as the API's revisions read it too.
    values = [whole_number(raw[k]) for k in ("x", "y", "w", "h")]
    whole = [v for v in values if isinstance(v, int) and not isinstance(v, bool)]
    if len(whole) != len(values):
        raise BoxesError(f"box {i}: x, y, w and h must be whole pixels")
    x, y, w, h = whole
    if w < 1 or h < 1 or x < 0 or y < 0 or x + w > width or y + h > height:
        raise BoxesError(
            f"box {i}: ({x}, {y}, {w}x{h}) is empty or not inside the {width}x{height} image"
        )
    score = raw.get("score", 1.0)
    if isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= 1:
        raise BoxesError(f"box {i}: score must be a number from 0 to 1")
    return FaceBox(x, y, w, h, float(score))


def read_boxes(text: str, src: Path, size: tuple[int, int]) -> list[FaceBox]:
    """The boxes of a BOXES.json for the upright `size` (width, height) of the image `src`."""
    record = _boxes_record(text, src)
    if isinstance(record, dict):
        keys = [k for k in ("faces", "boxes") if k in record]
        if len(keys) != 1:
            raise BoxesError('an object must hold one list, "faces" or "boxes"')
        record = record[keys[0]]
    if not isinstance(record, list):
        raise BoxesError("no list of boxes")
    if len(record) > MAX_BOXES:
        raise BoxesError(f"{len(record)} boxes; at most {MAX_BOXES}")
    return [_box(raw, i, *size) for i, raw in enumerate(record)]


def _apply_one(
    src: Path,
    dest: Path,
    ops: Sequence[str],
    options: Options,
    faces: Sequence[FaceBox] | None = None,
) -> None:
    result = process_image(src.read_bytes(), ops, options, Limits(), faces=faces)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    tmp.write_bytes(result.data)
    tmp.replace(dest)


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def cmd_apply(args: argparse.Namespace, stderr: TextIO) -> int:
    try:
        base = Options(
            format=args.format or "jpeg",
            quality=args.quality,
            preview=args.preview,
            max_side=args.max_side,
            min_face=args.min_face,
        )
    except ImagingError as exc:
        print(f"options: {exc.code}: {exc.message}", file=stderr)
        return 2
    ops: list[str] = args.op
    if args.boxes is not None:
        return _apply_boxes(args, ops, base, stderr)
    if args.src.is_dir():
        files = _images_in(args.src)
        args.dest.mkdir(parents=True, exist_ok=True)
        fmt = base.format
        progress = _Progress(len(files), stderr, enabled=not args.no_progress)
        failed = 0
        for i, path in enumerate(files, 1):
            dest = args.dest / (path.stem + EXTENSIONS[fmt])
            try:
                _apply_one(path, dest, ops, base)
            except (ImagingError, OSError) as exc:
                failed += 1
                progress.close()
                _err(path, exc, stderr)
            progress.update(i, path.name)
        progress.close()
        print(f"{len(files) - failed} processed, {failed} failed", file=stderr)
        return 1 if failed else 0
    fmt = _format_for(args.dest, args.format)
    options = Options(**{**base.to_mapping(), "format": fmt})  # type: ignore[arg-type]
    try:
        _apply_one(args.src, args.dest, ops, options)
    except (ImagingError, OSError) as exc:
        _err(args.src, exc, stderr)
        return 1
    return 0


def _apply_boxes(args: argparse.Namespace, ops: list[str], base: Options, stderr: TextIO) -> int:
    """apply IN OUT --boxes BOXES.json: one file, the given boxes, no detection."""
    if args.src.is_dir():
        print("apply: --boxes takes one image file, not a folder", file=stderr)
        return 2
    if not set(ops) & FACE_OPS:
        names = ", ".join(sorted(FACE_OPS))
        print(f"apply: --boxes needs a face operation ({names})", file=stderr)
        return 2
    try:
        data = args.src.read_bytes()
        size = upright_size(read_header(data))
    except (ImagingError, OSError) as exc:
        _err(args.src, exc, stderr)
        return 1
    try:
        faces = read_boxes(args.boxes.read_text(encoding="utf-8"), args.src, size)
    except (BoxesError, OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        print(f"{args.boxes}: invalid_boxes: {reason}", file=stderr)
        return 2
    options = Options(**{**base.to_mapping(), "format": _format_for(args.dest, args.format)})  # type: ignore[arg-type]
    try:
        _apply_one(args.src, args.dest, ops, options, faces)
    except (ImagingError, OSError) as exc:
        _err(args.src, exc, stderr)
        return 1
    return 0


def _faces_lines(paths: Iterable[Path], min_face: int, stdout: TextIO, stderr: TextIO) -> int:
    status = 0
    for path in paths:
        try:
            decoded = decode(path.read_bytes(), Limits())
            found = detect_faces(decoded.pixels, min_face=min_face)
        except (ImagingError, OSError) as exc:
            _err(path, exc, stderr)
            status = 1
            continue
        h, w = decoded.pixels.shape[:2]
        record = {
            "path": str(path),
            "width": w,
            "height": h,
            "faces": [f.to_dict() for f in found.faces],
            "unverified": found.unverified,
            "detector": found.detector,
        }
        stdout.write(json.dumps(record) + "\n")
        stdout.flush()
    return status


def cmd_faces(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    try:
        Options(min_face=args.min_face)
        detector_name()
    except ImagingError as exc:
        print(f"faces: {exc.code}: {exc.message}", file=stderr)
        return 2
    paths: list[Path] = []
    for p in args.images:
        paths.extend(_images_in(p) if p.is_dir() else [p])
    return _faces_lines(paths, args.min_face, stdout, stderr)


def main(
    argv: Sequence[str] | None = None, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> int:
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    args = _parser().parse_args(argv)
    if args.command == "apply":
        return cmd_apply(args, err)
    return cmd_faces(args, out, err)
