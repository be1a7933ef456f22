"""Errors raised by the imaging core.

Every problem with the input is an :class:`ImagingError` with a stable ``code``; callers treat
all of them as permanent (retrying the same bytes can never succeed).
"""

from __future__ import annotations

#: Every code :class:`ImagingError` can carry, with what it means.
ERROR_CODES: dict[str, str] = {
    "empty_input": "the input has no bytes",
    "unsupported_format": (
        "the bytes are not a JPEG, PNG, still WebP, still HEIC/HEIF or still AVIF image"
    ),
    "too_many_bytes": "the input is larger than the byte limit",
    "too_many_pixels": "the image has more pixels than the pixel limit",
    "side_too_long": "one side of the image is longer than the side limit",
    "truncated": "the image data ends before the image does",
    "corrupt": "the image data is damaged and cannot be decoded",
    "invalid_ops": "the list of operations is not valid",
    "invalid_options": "the options are not valid",
    "detection_unavailable": "face detection cannot run, so no face operation was applied",
}


class ImagingError(Exception):
    """A permanent problem with the input: the same bytes and options will always fail."""

    def __init__(self, code: str, message: str) -> None:
        if code not in ERROR_CODES:
            raise ValueError(f"unknown imaging error code {code!r}")
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class DetectionUnavailable(ImagingError):
    """Face detection cannot run; a face operation must never return an unredacted image."""

    def __init__(self, message: str) -> None:
        super().__init__("detection_unavailable", message)
