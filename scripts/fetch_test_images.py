"""Fetch the labelled test photos into .local/cache/test-images/ (never committed).

Sources are registry packages, fetched with their ordinary clients and unpacked here:
  * PyPI ``scikit-image`` wheel: skimage/data/*.png|jpg (astronaut, camera, coffee, ...)
  * Debian ``opencv-doc``: examples/data/*.jpg|png (messi5, basketball, chessboard shots, ...)
  * Debian ``facedetect``: examples/grace_hopper_512x512.jpg and an ice-block landscape

Run as ``python scripts/fetch_test_images.py [CACHE_DIR]``; a second run finds the stamp and
returns at once. Prints the cache folder.

``python scripts/fetch_test_images.py --sample DEST`` (``make sample``) writes one photo with one
face, Grace Hopper's portrait from Debian's ``facedetect``, to DEST: from the cache when the
test photos are there, else from that one package. Prints DEST.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CACHE = ROOT / ".local" / "cache" / "test-images"
SKIMAGE = "scikit-image==0.26.0"
DEBS = ("opencv-doc", "facedetect")
STAMP = ".complete-v1"

# Files we keep: the labelled face photos and the face-free ones (textures, animals, food...).
SKIMAGE_FILES = (
    "astronaut.png", "camera.png", "coffee.png", "chelsea.png", "brick.png", "grass.png",
    "gravel.png", "rocket.jpg", "motorcycle_left.png", "hubble_deep_field.jpg", "coins.png",
    "moon.png", "horse.png", "retina.jpg", "ihc.png", "color.png",
)  # fmt: skip
OPENCV_DOC_FILES = (
    "messi5.jpg", "basketball1.png", "basketball2.png", "left06.jpg", "right06.jpg",
    "baboon.jpg", "squirrel_cls.jpg", "fruits.jpg", "apple.jpg", "orange.jpg", "HappyFish.jpg",
    "butterfly.jpg", "building.jpg", "home.jpg", "starry_night.jpg", "board.jpg",
    "smarties.png", "aloeL.jpg", "leuvenA.jpg", "graf1.png", "box_in_scene.png",
)  # fmt: skip
FACEDETECT_FILES = ("grace_hopper_512x512.jpg", "640px-IceBlockNearJoekullsarlon.jpg")
# The README's sample photo: a 512x512 JPEG portrait with one face.
SAMPLE = "grace_hopper_512x512.jpg"


def _run(cmd: list[str], cwd: Path) -> None:
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL)


def _from_deb(deb: Path, names: tuple[str, ...], dest: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            ["dpkg-deb", "--fsys-tarfile", str(deb)], check=True, capture_output=True
        ).stdout
        tar_path = Path(tmp) / "data.tar"
        tar_path.write_bytes(out)
        with tarfile.open(tar_path) as tar:
            for member in tar.getmembers():
                name = member.name.rsplit("/", 1)[-1]
                if member.isfile() and name in names and "/examples/" in member.name:
                    src = tar.extractfile(member)
                    if src is not None:
                        (dest / name).write_bytes(src.read())


def _apt_download(packages: tuple[str, ...], cwd: Path) -> None:
    try:
        _run(["apt-get", "download", *packages], cwd)
    except subprocess.CalledProcessError:
        # A fresh machine has no package lists yet.
        _run(["apt-get", "update", "-qq"], cwd)
        _run(["apt-get", "download", *packages], cwd)


def fetch_sample(dest: Path, cache: Path = DEFAULT_CACHE) -> Path:
    """The sample photo at `dest`, from the test photos' cache or from Debian's facedetect."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if (cache / SAMPLE).is_file():
        dest.write_bytes((cache / SAMPLE).read_bytes())
        return dest
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        _apt_download(("facedetect",), tmp)
        _from_deb(next(tmp.glob("facedetect*.deb")), (SAMPLE,), tmp)
        dest.write_bytes((tmp / SAMPLE).read_bytes())
    return dest


def fetch(cache: Path = DEFAULT_CACHE) -> Path:
    if (cache / STAMP).exists():
        return cache
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        _run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
             "--disable-pip-version-check", "-d", str(tmp), SKIMAGE],
            tmp,
        )  # fmt: skip
        wheel = next(tmp.glob("scikit_image-*.whl"))
        with zipfile.ZipFile(wheel) as zf:
            for name in SKIMAGE_FILES:
                (cache / name).write_bytes(zf.read(f"skimage/data/{name}"))
        _apt_download(DEBS, tmp)
        for deb in tmp.glob("*.deb"):
            names = FACEDETECT_FILES if deb.name.startswith("facedetect") else OPENCV_DOC_FILES
            _from_deb(deb, names, cache)
    (cache / STAMP).write_text("ok\n")
    return cache


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--sample":
        print(fetch_sample(Path(sys.argv[2])))
    else:
        print(fetch(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_CACHE))
