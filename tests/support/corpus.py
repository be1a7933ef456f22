"""Real photos for tests, taken from registry packages into a cache; never committed.

scikit-image's wheel ships `astronaut.png` (a face) and face-free photos (`coffee`, `chelsea`).
The wheel is fetched once with `pip download` into `.local/cache/` and the files extracted.
"""

from __future__ import annotations

import fcntl
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".local" / "cache"
SKIMAGE = "scikit-image==0.26.0"


def skimage_image(name: str) -> bytes:
    """Bytes of `skimage/data/<name>` (e.g. "astronaut.png"), fetched once into the cache."""
    return skimage_path(name).read_bytes()


def skimage_path(name: str) -> Path:
    """The cached file `skimage/data/<name>`, fetched from the wheel on first use."""
    target = CACHE / "skimage" / name
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # Several test processes may ask at once; one downloads, the rest wait on the lock.
    with (CACHE / "skimage.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not target.exists():
            wheels = CACHE / "wheels"
            wheel = next(iter(sorted(wheels.glob("scikit_image-*.whl"))), None)
            if wheel is None:
                subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "pip",
                        "download",
                        "--quiet",
                        "--no-deps",
                        "--only-binary=:all:",
                        "-d",
                        str(wheels),
                        SKIMAGE,
                    ],
                    check=True,
                )
                wheel = next(iter(sorted(wheels.glob("scikit_image-*.whl"))))
            with zipfile.ZipFile(wheel) as zf:
                for member in zf.namelist():
                    if member.startswith("skimage/data/") and not member.endswith(("/", ".py")):
                        out = target.parent / Path(member).name
                        out.write_bytes(zf.read(member))
    return target
