"""gazokako imaging core: pure functions, bytes in, bytes out. No cloud imports, no env reads."""

from __future__ import annotations

from .errors import ERROR_CODES, DetectionUnavailable, ImagingError
from .formats import sniff_format
from .ops import CELLS, OPERATIONS, OpContext, OpFunc, validate_ops
from .pipeline import process_image
from .types import CONTENT_TYPES, FORMATS, FaceBox, Limits, Options, ProcessResult

__all__ = [
    "CELLS",
    "CONTENT_TYPES",
    "ERROR_CODES",
    "FORMATS",
    "OPERATIONS",
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
