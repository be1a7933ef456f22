"""Fixtures of the offline deploy checks: the parsed Terraform and the staged functions."""

from __future__ import annotations

import importlib.util
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
    build = tmp_path_factory.mktemp("build")
    for name in stage.FUNCTIONS:
        stage.stage_function(name, build)
    return build
