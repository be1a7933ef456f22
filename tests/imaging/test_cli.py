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


def _cell_variance(img: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """Mean variance inside 4x4 blocks of a region: near 0 once it is a mosaic of big cells."""
    x, y, w, h = box
    region = img[y : y + h, x : x + w].astype(np.float64)
    blocks = region[: h - h % 4, : w - w % 4].reshape(h // 4, 4, w // 4, 4, -1)
    return float(blocks.var(axis=(1, 3)).mean())


def test_apply_boxes_redacts_exactly_the_edited_faces_json(tmp_path: Path) -> None:
    """faces --json > b.json, edit (release the detected face, add a box where there is none),
    apply --boxes b.json: the added area is pixelated, the released face is left as it was."""
    src = tmp_path / "hopper.png"
    original = dataset.load("grace_hopper_512x512.jpg")
    src.write_bytes(fx.encode(original, ".png"))
    boxes = tmp_path / "b.json"
    code, out, _ = _run("faces", str(src), "--json")
    assert code == 0
    boxes.write_text(out)
    record = json.loads(out)
    (face,) = record["faces"]
    added = {"x": 400, "y": 400, "w": 96, "h": 96}
    assert added["x"] > face["x"] + face["w"] or added["y"] > face["y"] + face["h"]
    record["faces"] = [added]  # the detected face is released, a missed one added
    boxes.write_text(json.dumps(record) + "\n")
    dest = tmp_path / "out.png"
    code, _, err = _run("apply", str(src), str(dest), "--op", "mosaic_faces", "--boxes", str(boxes))
    assert (code, err) == (0, "")
    result = cv2.imdecode(np.frombuffer(dest.read_bytes(), np.uint8), cv2.IMREAD_COLOR)
    face_box = (face["x"], face["y"], face["w"], face["h"])
    fy, fx_, fw, fh = face["y"], face["x"], face["w"], face["h"]
    assert np.array_equal(
        result[fy : fy + fh, fx_ : fx_ + fw], original[fy : fy + fh, fx_ : fx_ + fw]
    )
    inner = (added["x"] + 8, added["y"] + 8, added["w"] - 16, added["h"] - 16)
    assert _cell_variance(original, inner) > 20
    assert not np.array_equal(result[400:496, 400:496], original[400:496, 400:496])
    # Detection on the same file redacts the detected face, which --boxes released.
    code, _, _ = _run("apply", str(src), str(tmp_path / "auto.png"), "--op", "mosaic_faces")
    auto = cv2.imdecode(np.frombuffer((tmp_path / "auto.png").read_bytes(), np.uint8), 1)
    assert _cell_variance(auto, face_box) < _cell_variance(original, face_box) / 4
    assert np.array_equal(auto[400:496, 400:496], original[400:496, 400:496])


def test_apply_boxes_accepts_a_plain_list_and_the_boxes_key(tmp_path: Path) -> None:
    src = tmp_path / "q.png"
    img = fx.quadrants(96, 64)
    src.write_bytes(fx.encode(img, ".png"))
    box = {"x": 10, "y": 10, "w": 30, "h": 30}
    outputs = []
    for i, content in enumerate([[box], {"boxes": [box]}, {"faces": [{**box, "score": 0.5}]}]):
        (tmp_path / f"{i}.json").write_text(json.dumps(content))
        dest = tmp_path / f"{i}.png"
        code, _, err = _run("apply", str(src), str(dest), "--op", "redact_faces",
                            "--boxes", str(tmp_path / f"{i}.json"))  # fmt: skip
        assert (code, err) == (0, "")
        outputs.append(cv2.imdecode(np.frombuffer(dest.read_bytes(), np.uint8), 1))
    assert all(np.array_equal(outputs[0], o) for o in outputs[1:])
    assert not outputs[0][20:30, 20:30].any()  # blacked out
    assert np.array_equal(outputs[0][50:, 80:], img[50:, 80:])


def test_apply_boxes_refuses_bad_files_and_folders(tmp_path: Path) -> None:
    src = tmp_path / "q.png"
    src.write_bytes(fx.encode(fx.quadrants(96, 64), ".png"))
    dest = tmp_path / "out.png"
    cases = {
        "not json": "not JSON",
        "[]\n[]\n": "2 lines and 0 with",
        json.dumps([{"x": 90, "y": 0, "w": 10, "h": 10}]): "not inside the 96x64 image",
        json.dumps([{"x": 0, "y": 0, "w": 0, "h": 10}]): "empty or not inside",
        json.dumps([{"x": 0, "y": 0, "w": 5.5, "h": 10}]): "whole pixels",
        json.dumps([{"x": 0, "y": 0, "w": 5, "h": 10, "width": 3}]): "unknown field 'width'",
        json.dumps([{"x": 0, "y": 0, "w": 5}]): "no 'h'",
        json.dumps({"faces": [], "boxes": []}): "one list",
        json.dumps({"count": 1}): "one list",
        json.dumps([{"x": 0, "y": 0, "w": 1, "h": 1}] * 257): "257 boxes; at most 256",
    }
    for i, (content, message) in enumerate(cases.items()):
        boxes = tmp_path / f"{i}.json"
        boxes.write_text(content)
        code, _, err = _run("apply", str(src), str(dest), "--op", "mosaic_faces",
                            "--boxes", str(boxes))  # fmt: skip
        assert code == 2, content
        assert err.startswith(f"{boxes}: invalid_boxes: "), err
        assert any(m in err for m in message.split("|")), (content, err)
    assert not dest.exists()
    code, _, err = _run("apply", str(src), str(dest), "--op", "mosaic_faces",
                        "--boxes", str(tmp_path / "missing.json"))  # fmt: skip
    assert code == 2 and "No such file" in err
    (tmp_path / "ok.json").write_text("[]")
    code, _, err = _run("apply", str(tmp_path), str(tmp_path / "o"), "--op", "mosaic_faces",
                        "--boxes", str(tmp_path / "ok.json"))  # fmt: skip
    assert (code, err.strip()) == (2, "apply: --boxes takes one image file, not a folder")
    code, _, err = _run("apply", str(src), str(dest), "--op", "grayscale",
                        "--boxes", str(tmp_path / "ok.json"))  # fmt: skip
    assert code == 2 and "needs a face operation" in err
    # JSON's 12.0 is the whole number 12, as the API's revisions take it.
    (tmp_path / "floats.json").write_text(json.dumps([{"x": 8.0, "y": 8.0, "w": 16.0, "h": 16}]))
    code, _, err = _run("apply", str(src), str(dest), "--op", "redact_faces",
                        "--boxes", str(tmp_path / "floats.json"))  # fmt: skip
    assert (code, err) == (0, "") and dest.exists()
