"""Value types of the public API: options, limits, face boxes and results."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from .errors import ImagingError

FORMATS: tuple[str, ...] = ("jpeg", "png", "webp")
CONTENT_TYPES: Mapping[str, str] = MappingProxyType(
    {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
)
EXTENSIONS: Mapping[str, str] = MappingProxyType({"jpeg": ".jpg", "png": ".png", "webp": ".webp"})

# WebP cannot store a side above 16383 px; JPEG tops out at 65535. Resizing below 16 px is
# never useful and makes the redaction rules meaningless.
_MIN_MAX_SIDE = 16
_MAX_MAX_SIDE = 16383
_MIN_FACE_RANGE = (8, 4096)


def whole_number(value: object) -> object:
    """JSON has one number type: 12.0 is the integer 12 (as JSON Schema counts it too); any
    other value is returned as it is, for the caller's own type check."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def _invalid(message: str) -> ImagingError:
    return ImagingError("invalid_options", message)


@dataclass(frozen=True)
class Options:
    """How to process and encode; every field has a safe default.

    format:   output format, "jpeg" (default), "png" or "webp".
    quality:  1..100 for JPEG and WebP (ignored for PNG, which is lossless).
    preview:  for face operations, draw the redaction boxes instead of redacting.
    max_side: longest side of the output in pixels (never upscales); used by the "resize"
              operation, and applied at the end when given without it.
    min_face: smallest face height, in pixels of the upright original, that detection must
              find. Smaller means a finer (slower) scan; 24 finds faces about 24 px tall.
    """

    format: str = "jpeg"
    quality: int = 85
    preview: bool = False
    max_side: int | None = None
    min_face: int = 24

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise _invalid(f"format must be one of {', '.join(FORMATS)}.")
        if type(self.quality) is not int or not 1 <= self.quality <= 100:
            raise _invalid("quality must be an integer from 1 to 100.")
        if type(self.preview) is not bool:
            raise _invalid("preview must be true or false.")
        if self.max_side is not None and (
            type(self.max_side) is not int or not _MIN_MAX_SIDE <= self.max_side <= _MAX_MAX_SIDE
        ):
            raise _invalid(f"max_side must be an integer from {_MIN_MAX_SIDE} to {_MAX_MAX_SIDE}.")
        lo, hi = _MIN_FACE_RANGE
        if type(self.min_face) is not int or not lo <= self.min_face <= hi:
            raise _invalid(f"min_face must be an integer from {lo} to {hi}.")

    @classmethod
    def from_mapping(cls, m: Mapping[str, object]) -> Options:
        """Build options from untrusted JSON: unknown keys and wrong types are refused."""
        if not isinstance(m, Mapping):
            raise _invalid("options must be a JSON object.")
        known = {"format", "quality", "preview", "max_side", "min_face"}
        unknown = sorted(str(k) for k in m if k not in known)
        if unknown:
            raise _invalid(f"unknown option(s): {', '.join(unknown)}.")
        kwargs: dict[str, object] = {}
        for key, value in m.items():
            kwargs[str(key)] = value
        fmt = kwargs.get("format")
        if isinstance(fmt, str):
            kwargs["format"] = "jpeg" if fmt.lower() in ("jpg", "jpeg") else fmt.lower()
        return cls(**kwargs)  # type: ignore[arg-type]  # types are checked in __post_init__

    def to_mapping(self) -> dict[str, object]:
        return {
            "format": self.format,
            "quality": self.quality,
            "preview": self.preview,
            "max_side": self.max_side,
            "min_face": self.min_face,
        }


@dataclass(frozen=True)
class Limits:
    """Refusal thresholds, checked from the header before any pixel is decoded.

    max_bytes defaults to 20 MiB: a 50 MP JPEG at camera quality is 15-20 MB; larger uploads
    are almost always RAW-like PNGs that would blow the function's memory anyway.
    max_side 20000 lets through 48 MP panoramas, refuses absurd strips.
    """

    max_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 50_000_000
    max_side: int = 20_000

    def __post_init__(self) -> None:
        for name in ("max_bytes", "max_pixels", "max_side"):
            value = getattr(self, name)
            if type(value) is not int or value <= 0:
                raise ValueError(f"Limits.{name} must be a positive integer")


@dataclass(frozen=True)
class FaceBox:
    """A detected face in upright original-image pixels, as found (not padded)."""

    x: int
    y: int
    w: int
    h: int
    score: float

    def to_dict(self) -> dict[str, int | float]:
        return {"x": self.x, "y": self.y, "w": self.w, "h": self.h, "score": round(self.score, 4)}


@dataclass(frozen=True)
class ProcessResult:
    data: bytes
    format: str
    content_type: str
    width: int
    height: int
    source_format: str
    source_width: int  # upright (after EXIF orientation)
    source_height: int
    faces: tuple[FaceBox, ...] = ()
    detector: str | None = None
    #: How many of ``faces`` are candidates redacted without being examined because the
    #: detection budget per image ran out (fail closed); 0 when detection finished.
    faces_unverified: int = 0
    timings: Mapping[str, float] = field(default_factory=dict)
