"""gazokako imaging core: pure functions, bytes in, bytes out. No cloud imports, no env reads.

The names that need OpenCV (the operations table, `process_image`) load on first use, so a caller
that only validates requests (the upload API) imports neither cv2 nor numpy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .catalog import OPERATION_NAMES, validate_ops
from .errors import ERROR_CODES, DetectionUnavailable, ImagingError
from .formats import sniff_format
from .types import CONTENT_TYPES, FORMATS, FaceBox, Limits, Options, ProcessResult

if TYPE_CHECKING:
    from .ops import CELLS, OPERATIONS, OpContext, OpFunc
    from .pipeline import process_image

_LAZY = {
    "CELLS": "ops",
    "OPERATIONS": "ops",
    "OpContext": "ops",
    "OpFunc": "ops",
    "process_image": "pipeline",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'imaging' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "CELLS",
    "CONTENT_TYPES",
    "ERROR_CODES",
    "FORMATS",
    "OPERATIONS",
    "OPERATION_NAMES",
    "DetectionUnavailable",
    "FaceBox",
    "ImagingError",
    "Limits",
    "OpContext",
    "OpFunc",
    "Options",
    "ProcessResult",
    "process_image",
    "sniff_format",
    "validate_ops",
]
