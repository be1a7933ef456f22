"""Operations: face redaction rules, composition order, preview, resize, fail closed."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

import imaging
from imaging import DetectionUnavailable, FaceBox, Options, models, process_image
from imaging import detect as detect_mod
from imaging.ops import CELLS, OpContext, pad_box

from . import dataset
from . import fixtures as fx


@pytest.fixture(scope="module")
def portrait() -> bytes:
    """Grace Hopper (one face), as a lossless PNG so pixel comparisons are exact."""
    return fx.encode(dataset.load("grace_hopper_512x512.jpg"), ".png")


def _png(data: bytes) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert img is not None
    return img


def _region(img: np.ndarray, face: FaceBox, scale: float = 1.0) -> np.ndarray:
    x0, y0, x1, y1 = pad_box(face, scale, img.shape[1], img.shape[0])
    return img[y0:y1, x0:x1]


def test_mosaic_faces_pixelates_the_padded_face_only(portrait: bytes) -> None:
    res = process_image(portrait, ["mosaic_faces"], Options(format="png"))
    assert len(res.faces) == 1
    assert res.detector is not None
    assert "centerface" in res.detector
    face = res.faces[0]
    truth = dataset.REAL_FACES["grace_hopper_512x512.jpg"][0]
    assert abs(face.x - truth[0]) < 20
    assert abs(face.h - truth[3]) < 30
    before, after = _png(portrait), _png(res.data)
    region = _region(after, face)
    colours = np.unique(region.reshape(-1, 3), axis=0)
    # At most CELLS x CELLS blocks (+1 row/column where the clipped box splits a block).
    assert len(colours) <= (CELLS + 1) ** 2
    x0, y0, x1, y1 = pad_box(face, 1.0, 512, 512)
    outside = np.ones((512, 512), bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(before[outside], after[outside])
    assert set(res.timings) == {"decode", "detect", "filter", "encode"}


def test_mosaic_block_size_scales_with_the_face(portrait: bytes) -> None:
    """The same face at 2x resolution gets 2x bigger blocks: the same number of cells."""
    big = fx.encode(cv2.resize(_png(portrait), (1024, 1024), interpolation=cv2.INTER_CUBIC), ".png")
    counts = []
    for data in (portrait, big):
        res = process_image(data, ["mosaic_faces"], Options(format="png"))
        region = _region(_png(res.data), res.faces[0])
        counts.append(len(np.unique(region.reshape(-1, 3), axis=0)))
    assert all(c <= (CELLS + 1) ** 2 for c in counts)
    assert abs(counts[0] - counts[1]) <= 2 * CELLS + 2


def test_blur_faces_removes_detail(portrait: bytes) -> None:
    res = process_image(portrait, ["blur_faces"], Options(format="png"))
    face = res.faces[0]
    before = cv2.cvtColor(_region(_png(portrait), face), cv2.COLOR_BGR2GRAY)
    after = cv2.cvtColor(_region(_png(res.data), face), cv2.COLOR_BGR2GRAY)
    detail_before = float(cv2.Laplacian(before, cv2.CV_64F).var())
    detail_after = float(cv2.Laplacian(after, cv2.CV_64F).var())
    assert detail_after < detail_before / 50


def test_redact_faces_is_solid(portrait: bytes) -> None:
    res = process_image(portrait, ["redact_faces"], Options(format="png"))
    assert int(_region(_png(res.data), res.faces[0]).max()) == 0


def test_preview_draws_boxes_and_keeps_the_face(portrait: bytes) -> None:
    res = process_image(portrait, ["mosaic_faces"], Options(format="png", preview=True))
    face = res.faces[0]
    before, after = _png(portrait), _png(res.data)
    x0, y0, x1, y1 = pad_box(face, 1.0, 512, 512)
    inner = (slice(y0 + 8, y1 - 8), slice(x0 + 8, x1 - 8))
    assert np.array_equal(before[inner], after[inner])
    assert tuple(int(v) for v in after[y0, (x0 + x1) // 2]) == (0, 255, 0)


def test_gray_then_mosaic_faces_still_detects_on_colour(portrait: bytes) -> None:
    res = process_image(portrait, ["grayscale", "mosaic_faces"], Options(format="png"))
    assert len(res.faces) == 1
    assert _png(res.data).ndim == 2


def test_resize_before_face_ops_scales_the_boxes(portrait: bytes) -> None:
    res = process_image(portrait, ["resize", "redact_faces"], Options(format="png", max_side=256))
    assert (res.width, res.height) == (256, 256)
    assert (res.source_width, res.source_height) == (512, 512)
    face = res.faces[0]  # still in original coordinates
    region = _region(_png(res.data), face, scale=0.5)
    assert region.size > 0
    assert int(region.max()) == 0


def test_resize_never_upscales_and_max_side_alone_resizes() -> None:
    data = fx.encode(fx.quadrants(96, 64), ".png")
    assert process_image(data, ["resize"], Options(max_side=200)).width == 96
    res = process_image(data, [], Options(max_side=48))
    assert (res.width, res.height) == (48, 32)
    with pytest.raises(imaging.ImagingError) as exc:
        process_image(data, ["resize"])
    assert exc.value.code == "invalid_options"


def test_whole_image_mosaic() -> None:
    rng = np.random.default_rng(3)
    img = rng.integers(0, 255, (256, 256, 3), dtype=np.uint8)
    res = process_image(fx.encode(img, ".png"), ["mosaic"], Options(format="png"))
    out = _png(res.data)
    cell = math.ceil(256 / 64)
    assert np.array_equal(out[0:cell, 0:cell], np.broadcast_to(out[0, 0], (cell, cell, 3)))


def test_no_faces_means_unchanged_pixels() -> None:
    data = fx.encode(dataset.load("coffee.png"), ".png")
    res = process_image(data, ["mosaic_faces"], Options(format="png"))
    assert res.faces == ()
    assert np.array_equal(_png(res.data), _png(data))


def test_faces_found_on_exif_rotated_photo_in_upright_coordinates() -> None:
    upright = dataset.load("grace_hopper_512x512.jpg")
    stored = cv2.rotate(upright, cv2.ROTATE_90_COUNTERCLOCKWISE)  # orientation 6 turns it back
    data = fx.jpeg_with_metadata(stored, 6)
    res = process_image(data, ["mosaic_faces"])
    truth = dataset.REAL_FACES["grace_hopper_512x512.jpg"][0]
    assert len(res.faces) == 1
    f = res.faces[0]
    assert abs(f.x - truth[0]) < 20
    assert abs(f.y - truth[1]) < 25


def test_fail_closed_when_the_model_is_missing(
    portrait: bytes, monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    monkeypatch.setattr(models, "MODEL_PATH", models.MODEL_DIR / "missing.onnx")
    monkeypatch.setattr(detect_mod._shared, "net", None)
    with pytest.raises(DetectionUnavailable) as exc:
        process_image(portrait, ["grayscale", "blur_faces"])
    assert exc.value.code == "detection_unavailable"
    # Operations without faces still work.
    assert process_image(portrait, ["grayscale"]).width == 512


def test_operations_compose_in_order() -> None:
    data = fx.encode(fx.quadrants(96, 64), ".png")
    ctx = OpContext(options=Options())
    img = imaging.OPERATIONS["grayscale"](cv2.imdecode(np.frombuffer(data, np.uint8), 1), ctx)
    assert img.ndim == 2
    res = process_image(data, ["grayscale", "mosaic", "resize"], Options(format="png", max_side=48))
    assert _png(res.data).shape == (32, 48)


def test_resize_first_lets_the_jpeg_decoder_shrink() -> None:
    rng = np.random.default_rng(5)
    small = rng.integers(0, 255, (25, 50, 3), dtype=np.uint8)
    big = cv2.resize(small, (2000, 1000), interpolation=cv2.INTER_NEAREST)
    data = fx.encode(big, ".jpg", [cv2.IMWRITE_JPEG_QUALITY, 95])
    info = imaging.codec.read_header(data)
    assert imaging.codec.reduction_for(info, 400) == 4
    assert imaging.codec.reduction_for(info, 600) == 2
    fast = process_image(data, ["grayscale", "resize"], Options(format="png", max_side=400))
    slow = process_image(
        data, ["grayscale", "mosaic", "resize"], Options(format="png", max_side=400)
    )
    assert (fast.width, fast.height) == (400, 200)
    assert (fast.source_width, fast.source_height) == (2000, 1000)
    reference = cv2.resize(
        cv2.cvtColor(big, cv2.COLOR_BGR2GRAY), (400, 200), interpolation=cv2.INTER_AREA
    )
    diff = np.abs(_png(fast.data).astype(int) - reference.astype(int))
    assert float(diff.mean()) < 4
    assert (slow.width, slow.height) == (400, 200)


def test_detection_is_thread_safe() -> None:
    """Threads share one net under a lock; results match the single-threaded ones."""
    from concurrent.futures import ThreadPoolExecutor

    images = [dataset.load(n) for n in ("grace_hopper_512x512.jpg", "astronaut.png", "camera.png")]
    alone = [detect_mod.detect_faces(img).faces for img in images]
    with ThreadPoolExecutor(max_workers=3) as pool:
        together = list(pool.map(lambda img: detect_mod.detect_faces(img).faces, images))
    assert together == alone
    assert all(len(faces) == 1 for faces in alone)


def test_given_faces_are_redacted_without_detection() -> None:
    """A reviewed box set is applied as given: a box over a plain area changes it, and an image
    whose detector would find nothing there still gets exactly that box."""
    import cv2
    import numpy as np

    from imaging import FaceBox, Options, process_image
    from imaging.codec import decode
    from imaging.types import Limits

    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 255, (200, 300, 3), dtype=np.uint8)
    ok, png = cv2.imencode(".png", pixels)
    assert ok
    box = FaceBox(x=100, y=60, w=40, h=40, score=1.0)
    result = process_image(png.tobytes(), ["mosaic_faces"], Options(format="png"), faces=[box])
    assert result.faces == (box,)
    assert result.detector is None
    assert "detect" not in result.timings
    out = decode(result.data, Limits()).pixels
    # Inside the box the noise is gone (blocks); far outside it is untouched.
    assert not np.array_equal(out[70:90, 110:130], pixels[70:90, 110:130])
    assert np.array_equal(out[150:, 200:], pixels[150:, 200:])
    empty = process_image(png.tobytes(), ["mosaic_faces"], Options(format="png"), faces=[])
    assert np.array_equal(decode(empty.data, Limits()).pixels, pixels)
