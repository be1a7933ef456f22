"""Command line: ``python -m imaging apply|faces``.

apply IN OUT --op grayscale --op mosaic_faces [--format webp] [--quality 85] [--max-side N]
apply DIR OUTDIR ...      every JPEG/PNG/WebP in DIR (not recursive), with a progress bar
faces IMAGE... [--json]   one JSON object a line: {"path","width","height","faces":[...]}

A bad input prints one line ``PATH: code: message`` to stderr and the exit status is 1 after
the other files were processed; a usage error exits 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TextIO

from .codec import decode
from .detect import detect_faces, detector_name
from .errors import ImagingError
from .ops import OPERATIONS
from .pipeline import process_image
from .types import EXTENSIONS, FORMATS, Limits, Options

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


def _apply_one(src: Path, dest: Path, ops: Sequence[str], options: Options) -> None:
    result = process_image(src.read_bytes(), ops, options, Limits())
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
