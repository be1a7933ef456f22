"""The command line: apply (file and folder mode), faces --json, errors per file."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from imaging.cli import main
from imaging.formats import read_header

from . import dataset
from . import fixtures as fx

ROOT = Path(__file__).resolve().parents[2]


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_apply_one_file_format_from_flag_or_suffix(tmp_path: Path) -> None:
    src = tmp_path / "in.jpg"
    src.write_bytes(fx.encode(fx.quadrants(), ".jpg"))
    code, _, err = _run("apply", str(src), str(tmp_path / "out.png"), "--op", "grayscale")
    assert (code, err) == (0, "")
    assert read_header((tmp_path / "out.png").read_bytes()).format == "png"
    code, _, _ = _run(
        "apply", str(src), str(tmp_path / "o.bin"), "--op", "mosaic", "--format", "webp",
        "--quality", "60",
    )  # fmt: skip
    assert code == 0
    assert read_header((tmp_path / "o.bin").read_bytes()).format == "webp"


def test_apply_folder_reports_bad_files_and_processes_the_rest(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.jpg").write_bytes(fx.encode(fx.quadrants(), ".jpg"))
    (src / "b.png").write_bytes(fx.encode(fx.quadrants(), ".png"))
    (src / "bad.jpg").write_bytes(b"hello, not an image")
    (src / "cut.png").write_bytes(fx.encode(fx.quadrants(), ".png")[:60])
    (src / "notes.txt").write_text("ignored")
    code, _, err = _run("apply", str(src), str(tmp_path / "out"), "--op", "grayscale",
                        "--format", "webp")  # fmt: skip
    assert code == 1
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.webp", "b.webp"]
    lines = [ln for ln in err.splitlines() if ln.startswith(str(src))]
    assert lines == [
        f"{src / 'bad.jpg'}: unsupported_format: "
        "The input is not a JPEG, PNG, WebP, HEIC/HEIF or AVIF image (format read from its bytes).",
        f"{src / 'cut.png'}: truncated: The PNG data ends before the image is complete.",
    ]
    assert "4/4" in err  # the progress bar reached the end
    assert "2 processed, 2 failed" in err


def test_faces_json_lines_in_upright_coordinates(tmp_path: Path) -> None:
    upright = dataset.load("grace_hopper_512x512.jpg")
    rotated = tmp_path / "rotated.jpg"
    rotated.write_bytes(fx.jpeg_with_metadata(cv2.rotate(upright, cv2.ROTATE_90_CLOCKWISE), 8))
    empty = tmp_path / "coffee.png"
    empty.write_bytes(fx.encode(dataset.load("coffee.png"), ".png"))
    bad = tmp_path / "zero.jpg"
    bad.write_bytes(b"")
    code, out, err = _run("faces", str(rotated), str(bad), str(empty), "--json")
    assert code == 1
    assert err.strip() == f"{bad}: empty_input: The input is empty."
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["path"] for r in records] == [str(rotated), str(empty)]
    first = records[0]
    assert (first["width"], first["height"]) == (512, 512)
    (face,) = first["faces"]
    assert set(face) == {"x", "y", "w", "h", "score"}
    truth = dataset.REAL_FACES["grace_hopper_512x512.jpg"][0]
    assert abs(face["x"] - truth[0]) < 20
    assert abs(face["y"] - truth[1]) < 25
    assert records[1]["faces"] == []
    assert first["unverified"] == 0  # detection finished within its budget


def test_module_entry_point_runs(tmp_path: Path) -> None:
    src = tmp_path / "x.png"
    src.write_bytes(fx.encode(np.zeros((8, 8, 3), np.uint8), ".png"))
    cli = [sys.executable, "-m", "imaging", "apply", str(src)]
    proc = subprocess.run(
        [*cli, str(tmp_path / "y.jpg"), "--op", "grayscale"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    bad = subprocess.run(
        [*cli, str(tmp_path / "z.jpg"), "--op", "sepia"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert bad.returncode == 2
