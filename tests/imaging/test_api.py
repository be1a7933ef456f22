"""The public API other parts of gazokako build on."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import imaging
from imaging import ImagingError, Options, process_image


def _jpeg(w: int = 64, h: int = 48) -> bytes:
    img = np.zeros((h, w, 3), np.uint8)
    img[:, : w // 2] = (0, 0, 255)
    ok, buf = cv2.imencode(".jpg", img)
    assert ok
    return buf.tobytes()


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp"])
def test_grayscale_round_trip(fmt: str) -> None:
    res = process_image(_jpeg(), ["grayscale"], Options(format=fmt))
    assert res.format == fmt
    assert imaging.sniff_format(res.data) == fmt
    assert res.content_type == f"image/{fmt}"
    assert (res.width, res.height) == (64, 48)
    assert (res.source_width, res.source_height, res.source_format) == (64, 48, "jpeg")
    out = cv2.imdecode(np.frombuffer(res.data, np.uint8), cv2.IMREAD_COLOR)
    b, g, r = (out[..., i].astype(int) for i in range(3))
    assert int(np.abs(b - g).max()) <= 2
    assert int(np.abs(g - r).max()) <= 2
    assert res.faces == ()
    assert res.detector is None


def test_operations_table_and_validation() -> None:
    assert set(imaging.OPERATIONS) >= {
        "grayscale",
        "mosaic_faces",
        "blur_faces",
        "redact_faces",
        "mosaic",
        "resize",
    }
    assert imaging.validate_ops(["grayscale", "mosaic_faces"]) == ("grayscale", "mosaic_faces")
    for bad in (["sepia"], "grayscale", [1], ["grayscale"] * 17):
        with pytest.raises(ImagingError) as exc:
            imaging.validate_ops(bad)  # type: ignore[arg-type]
        assert exc.value.code == "invalid_ops"


def test_options_from_untrusted_mapping() -> None:
    opts = Options.from_mapping({"format": "WEBP", "quality": 70, "preview": True})
    assert (opts.format, opts.quality, opts.preview) == ("webp", 70, True)
    assert Options.from_mapping({"format": "jpg"}).format == "jpeg"
    bad_inputs: list[object] = [
        {"format": "gif"},
        {"quality": 0},
        {"quality": 101},
        {"quality": "85"},
        {"quality": True},
        {"preview": "yes"},
        {"max_side": 4},
        {"max_side": 1.5},
        {"evil": 1},
        {"min_face": 2},
        ["format"],
    ]
    for bad in bad_inputs:
        with pytest.raises(ImagingError) as exc:
            Options.from_mapping(bad)  # type: ignore[arg-type]
        assert exc.value.code == "invalid_options", bad


def test_error_codes_are_stable() -> None:
    for code in (
        "empty_input",
        "unsupported_format",
        "too_many_bytes",
        "too_many_pixels",
        "side_too_long",
        "truncated",
        "corrupt",
        "invalid_ops",
        "invalid_options",
        "detection_unavailable",
    ):
        assert code in imaging.ERROR_CODES
    err = imaging.DetectionUnavailable("no model")
    assert isinstance(err, ImagingError)
    assert err.code == "detection_unavailable"
    assert err.message == "no model"
