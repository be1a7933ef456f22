"""The operation names and their validation, importable without OpenCV or numpy.

The upload API validates a client's `ops` before any image exists; importing the operations
table itself would load cv2 into a function that never touches pixels. `ops.OPERATIONS` is still
the one name->function table: at import it checks that its names are exactly these.
"""

from __future__ import annotations

from collections.abc import Sequence

from .errors import ImagingError

OPERATION_NAMES: tuple[str, ...] = (
    "grayscale",
    "mosaic_faces",
    "blur_faces",
    "redact_faces",
    "mosaic",
    "resize",
)
#: Operations that need face detection before they run.
FACE_OPS = frozenset({"mosaic_faces", "blur_faces", "redact_faces"})
MAX_OPS = 16


def validate_ops(ops: Sequence[str]) -> tuple[str, ...]:
    """Check an untrusted list of operation names; an empty list means re-encode only."""
    if isinstance(ops, str | bytes) or not isinstance(ops, Sequence):
        raise ImagingError("invalid_ops", "ops must be a list of operation names.")
    if len(ops) > MAX_OPS:
        raise ImagingError("invalid_ops", f"At most {MAX_OPS} operations are allowed.")
    out = []
    for op in ops:
        if not isinstance(op, str) or op not in OPERATION_NAMES:
            names = ", ".join(OPERATION_NAMES)
            raise ImagingError("invalid_ops", f"Unknown operation {op!r}; known: {names}.")
        out.append(op)
    return tuple(out)
