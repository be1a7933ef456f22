"""Decoders that must not take the caller down with them.

libheif (HEIC) and libavif (AVIF) parse nested containers in C, and a hostile file can crash
them: tests/imaging/test_fuzz.py found a mutated HEIC that ends libheif's metadata reading in a
segmentation fault. In the process function that would kill the instance on every redelivery of
the event. So these two formats decode in a helper process: a crash there ends the helper only,
the image is `corrupt`, and the next decode starts a new helper.

The helper is started on first use with `spawn` (a fresh interpreter: nothing of the caller's
threads or locks is inherited) and then reused; it decodes one image at a time. Pixels come back
through a pipe, which costs a copy (tens of milliseconds at 12 MP) against a decode that takes
longer.
"""

from __future__ import annotations

import multiprocessing as mp
import threading
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from .errors import ImagingError

_lock = threading.Lock()
_helper: tuple[BaseProcess, Connection] | None = None


def _serve(conn: Connection) -> None:
    """The helper's loop: (format, bytes) in, ("ok", pixels) or ("error", code, message) out."""
    # Imported here, in the helper: codec imports this module.
    from .codec import HELPER_DECODERS  # noqa: PLC0415

    while True:
        try:
            fmt, data = conn.recv()
        except EOFError:
            return  # the caller has gone
        try:
            conn.send(("ok", HELPER_DECODERS[fmt](data)))
        except ImagingError as exc:
            conn.send(("error", exc.code, exc.message))


def _start() -> tuple[BaseProcess, Connection]:
    ctx = mp.get_context("spawn")
    ours, theirs = ctx.Pipe()
    helper = ctx.Process(target=_serve, args=(theirs,), name="imaging-decoder", daemon=True)
    helper.start()
    theirs.close()
    return helper, ours


def decode_in_helper(fmt: str, data: bytes) -> Any:
    """The pixels of a `fmt` ("heif" or "avif") image, decoded in the helper process; an
    ImagingError for a bad image, including one that crashes the decoder."""
    global _helper  # noqa: PLW0603 - one helper per process, started on first use
    with _lock:
        if _helper is None or not _helper[0].is_alive():
            _helper = _start()
        helper, conn = _helper
        try:
            conn.send((fmt, data))
            reply = conn.recv()
        except (EOFError, OSError):
            # The helper died on this input: a crash inside the C decoder. Reap it; the next
            # image gets a new one.
            conn.close()
            helper.join()
            _helper = None
            raise ImagingError(
                "corrupt", f"The {fmt.upper()} data cannot be decoded (the decoder crashed)."
            ) from None
    if reply[0] == "ok":
        return reply[1]
    raise ImagingError(reply[1], reply[2])
