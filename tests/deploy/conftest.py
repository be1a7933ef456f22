"""Fixtures of the offline deploy checks: the parsed Terraform and the staged functions."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tests.deploy import hcl


def load_stage_script() -> ModuleType:
    """scripts/stage.py is a script, not a package module: load it from its path."""
    spec = importlib.util.spec_from_file_location("gazokako_stage", hcl.ROOT / "scripts/stage.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def tf() -> hcl.Config:
    return hcl.load()


@pytest.fixture(scope="session")
def staged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """build/ as scripts/stage.py writes it, in a temporary folder (build/ stays untouched)."""
    stage = load_stage_script()
    stage.ensure_models()
    build = tmp_path_factory.mktemp("build")
    for name in stage.FUNCTIONS:
        stage.stage_function(name, build)
    return build


class Background:
    """A setup command started early in the background and awaited by the tests needing it.

    On a fresh clone the slow steps of the deploy checks are installs and downloads; started
    together at the beginning of the session they overlap with the smoke test's venv builds.
    """

    def __init__(self, command: list[str]) -> None:
        self._proc = subprocess.Popen(
            command, cwd=hcl.ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        self._output: bytes | None = None

    def wait(self) -> None:
        if self._output is None:
            self._output, _ = self._proc.communicate()
        assert self._proc.returncode == 0, self._output.decode(errors="replace")


@pytest.fixture(scope="session", autouse=True)
def checkov_venv() -> Iterator[Background]:
    """`make checkov-venv`: builds .venv-checkov once (stamp file), a no-op afterwards."""
    # flock: another test session in the same tree (a second agent, a second terminal) waits
    # instead of pip-installing into the same venv at the same time.
    lock = hcl.ROOT / ".local" / "checkov-venv.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    build = Background(
        ["flock", str(lock), "make", "--no-print-directory", "--silent", "checkov-venv"]
    )
    yield build
    build.wait()


@pytest.fixture(scope="session", autouse=True)
def provider_schemas() -> Iterator[Background]:
    """The Google provider's schema, downloaded once into .local/cache/provider-schema/."""
    build = Background([sys.executable, "-m", "tests.deploy.provider_schema"])
    yield build
    build.wait()
