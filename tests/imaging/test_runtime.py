"""onnxruntime (preferred) and cv2.dnn (fallback) run the same CenterFace model alike."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from imaging import detect as detect_mod
from imaging import models, onnx_shapes

from . import dataset


def _blob() -> np.ndarray:
    img = dataset.load("astronaut.png")
    tile = cv2.resize(img, (detect_mod.TILE, detect_mod.TILE))
    return cv2.dnn.blobFromImage(tile, 1.0, tile.shape[1::-1], (0, 0, 0), swapRB=True)


def test_onnxruntime_matches_cv2_dnn() -> None:
    model = models.MODEL_PATH.read_bytes()
    blob = _blob()
    ort_out = detect_mod._onnxruntime_forward(model)(blob)
    cv_out = detect_mod._cv2_forward(model)(blob)
    assert [o.shape for o in ort_out] == [o.shape for o in cv_out]
    heat = ort_out[0][0, 0]
    assert float(heat.max()) > 0.5  # a face is there, so the comparison is not of zeros
    for a, b in zip(ort_out, cv_out, strict=True):
        assert float(np.abs(a - b).max()) < 1e-3


def test_dynamic_input_model_accepts_other_sizes() -> None:
    model = onnx_shapes.dynamic_input_model(models.MODEL_PATH.read_bytes())
    assert len(model) < len(models.MODEL_PATH.read_bytes())  # weight inputs dropped
    forward = detect_mod._onnxruntime_forward(models.MODEL_PATH.read_bytes())
    out = forward(np.zeros((2, 3, 96, 160), np.float32))
    assert out[0].shape == (2, 1, 24, 40)


def test_falls_back_to_cv2_dnn_without_onnxruntime(monkeypatch: pytest.MonkeyPatch) -> None:
    def unavailable(model: bytes) -> detect_mod.Forward:
        raise ImportError("no onnxruntime")

    monkeypatch.setattr(detect_mod, "_onnxruntime_forward", unavailable)
    monkeypatch.setattr(detect_mod._shared, "net", None)
    monkeypatch.setattr(detect_mod._shared, "runtime", "")
    faces = detect_mod.detect_faces(dataset.load("grace_hopper_512x512.jpg")).faces
    assert detect_mod._shared.runtime == "cv2.dnn"
    assert len(faces) == 1


def test_corrupt_protobuf_is_refused() -> None:
    with pytest.raises(ValueError, match="truncated"):
        onnx_shapes.dynamic_input_model(b"\x3a\xff\xff\xff")
