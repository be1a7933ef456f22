"""Job IDs and the object names built from them: the only key to a job and its photo.

An id is a capability: whoever holds it can read and erase the job. So it must be unguessable,
and it must never be written to a log; logs carry `log_ref(id)`, a digest that names the same
job across log lines but cannot be turned back into the id.
"""

from __future__ import annotations

import hashlib
import re
import secrets

# 24 random bytes = 192 bits, well above the 128 the design asks for; URL-safe base64 -> 32 chars.
_ID_BYTES = 24
ID_CHARS = "A-Za-z0-9_-"
ID_LENGTH = 32
# api/openapi.yaml states the same pattern for {id} (tests/test_ids.py holds the two together).
ID_PATTERN = f"^[{ID_CHARS}]{{{ID_LENGTH}}}$"
_ID = re.compile(ID_PATTERN)
# Any run of id characters at least an id long. A string that contains an id (bare, in a path,
# URL-encoded as u%2F{id}%2Fsource, in an error message) contains such a run, whatever its
# neighbours are; `redact` hides every one.
_ID_RUN = re.compile(f"[{ID_CHARS}]{{{ID_LENGTH},}}")
# The label makes the digest specific to this use: the same id hashed elsewhere gives another value.
_LOG_REF_LABEL = b"gazokako log reference v1\n"
LOG_REF_CHARS = 16
REDACTED = "<redacted>"

# The uploads bucket's `u/` folder belongs to the upload API: `u/{id}/source` is what a signed
# PUT may write. Anything under it that no live API job names is removed (docs/JOBS.md).
UPLOADS_FOLDER = "u/"
RESULTS_FOLDER = "r/"
_API_SOURCE = re.compile(f"^{UPLOADS_FOLDER}(?P<id>[{ID_CHARS}]{{{ID_LENGTH}}})/source$")


def new_job_id() -> str:
    return secrets.token_urlsafe(_ID_BYTES)


def is_job_id(value: str) -> bool:
    return bool(_ID.fullmatch(value))


def log_ref(job_id: str) -> str:
    """The job's name in logs: 64 bits of SHA-256 over a fixed label and the id.

    Enough to follow one job through the logs and to find its lines from the id (compute the
    digest), never enough to find the id from a line: the id has 192 random bits.
    """
    return hashlib.sha256(_LOG_REF_LABEL + job_id.encode()).hexdigest()[:LOG_REF_CHARS]


def redact(text: str) -> str:
    """`text` with anything that could be a job id replaced; for free text bound for a log."""
    return _ID_RUN.sub(REDACTED, text)


def source_object_name(job_id: str) -> str:
    """Where an API job's upload lands in the uploads bucket."""
    return f"{UPLOADS_FOLDER}{job_id}/source"


def api_job_of(name: str) -> str | None:
    """The job id an uploads-bucket object belongs to, if it is an API job's source."""
    match = _API_SOURCE.fullmatch(name)
    return match["id"] if match else None


def in_api_folder(name: str) -> bool:
    """Whether an uploads-bucket object lies in the API's folder (then it is no direct drop)."""
    return name.startswith(UPLOADS_FOLDER)


def uploads_prefix(job_id: str) -> str:
    return f"{UPLOADS_FOLDER}{job_id}/"


def results_prefix(job_id: str, generation: int | None = None) -> str:
    """Every result of the job, or (with `generation`) those of one source generation."""
    folder = f"{RESULTS_FOLDER}{job_id}/"
    return folder if generation is None else f"{folder}{generation}."


def result_extension(fmt: str) -> str:
    """The file extension of an output format: `jpg`, `png` or `webp` (never a dot in it)."""
    return "jpg" if fmt == "jpeg" else fmt


def result_object_name(job_id: str, generation: int, fmt: str) -> str:
    """Where the result of one source generation of an API job goes: the same name on every
    retry, so a repeated attempt overwrites instead of adding; a new generation gets a new name."""
    return f"{results_prefix(job_id, generation)}{result_extension(fmt)}"


def revision_result_name(job_id: str, generation: int, revision: int, fmt: str) -> str:
    """Where revision `revision` (1, 2, ...) of a reviewed API job's result goes: deterministic
    per (generation, revision), so a repeated attempt overwrites instead of adding, and inside
    `results_prefix(job_id, generation)`, so every erasure of the job's results finds it."""
    return f"{results_prefix(job_id, generation)}r{revision}.{result_extension(fmt)}"


# -- direct drops: the result is named after the dropped object (docs/JOBS.md) -----------------
# Cloud Storage's limit on an object name, in UTF-8 bytes.
MAX_OBJECT_NAME_BYTES = 1024
# Every extension a result can have: a drop's results can only be at these names.
RESULT_EXTENSIONS = ("jpg", "png", "webp")
# Custom metadata on every result object, linking it back to what made it. Only the job id
# decides who may delete a drop's result (`owned_by`); the source generation decides which of
# two generations of one drop keeps the name (the newer one).
RESULT_JOB_KEY = "gazokako-job"
RESULT_SOURCE_GENERATION_KEY = "gazokako-source-generation"
RESULT_FACES_KEY = "gazokako-faces"


def drop_result_name(name: str, fmt: str) -> str:
    """Where the result of a dropped object goes in the results bucket: the drop's own name,
    a dot and the result's extension (`inbox/photo.png` -> `inbox/photo.png.jpg`). Two drops
    whose names differ only by extension keep apart: the extension added has no dot, so the
    name maps back to exactly one drop. Every generation of the drop has the same name; the
    newest generation's result holds it."""
    return f"{name}.{result_extension(fmt)}"


def drop_result_names(name: str) -> tuple[str, ...]:
    """Every name a result of this drop can have, whatever its format; none when the names
    would be too long for an object (such a drop fails with `name_too_long`, writing nothing,
    and storage refuses to even look such a name up)."""
    if not drop_result_name_fits(name):
        return ()
    return tuple(f"{name}.{ext}" for ext in RESULT_EXTENSIONS)


def reserved_drop_name(name: str) -> bool:
    """Whether a drop's name would put its result into the API's results folder `r/`, where
    it could take an API job's result name. Such a drop fails with `reserved_name`."""
    return name.startswith(RESULTS_FOLDER)


def drop_result_name_fits(name: str) -> bool:
    """Whether every result name of this drop is a valid object name (at most 1024 bytes)."""
    return len(drop_result_name(name, "webp").encode()) <= MAX_OBJECT_NAME_BYTES


def result_metadata(job_id: str, generation: int, faces: int) -> dict[str, str]:
    """The custom metadata of a result object (values are strings, as storage keeps them)."""
    return {
        RESULT_JOB_KEY: job_id,
        RESULT_SOURCE_GENERATION_KEY: str(generation),
        RESULT_FACES_KEY: str(faces),
    }


def result_source_generation(metadata: object) -> int:
    """The source generation a result object says it was made from; 0 if it says nothing
    (an object some other writer put there)."""
    if not isinstance(metadata, dict):
        return 0
    try:
        return int(str(metadata.get(RESULT_SOURCE_GENERATION_KEY) or 0))
    except ValueError:
        return 0


def owned_by(metadata: object, job_id: str) -> bool:
    """Whether a result object's metadata names `job_id` as the job that made it."""
    return isinstance(metadata, dict) and metadata.get(RESULT_JOB_KEY) == job_id
