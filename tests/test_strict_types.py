"""mypy is strict for every package of the product: the setting is global in pyproject.toml, no
override relaxes it, and `make lint` runs mypy over every package and both entry points."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = {
    "imaging",
    "gazokako",
    "devstack",
    "functions/upload/main.py",
    "functions/process/main.py",
}
# Flags that `strict` turns on; an override setting any of them false relaxes it.
STRICT_FLAGS = {
    "strict",
    "disallow_untyped_defs",
    "disallow_incomplete_defs",
    "disallow_untyped_calls",
    "disallow_any_generics",
    "check_untyped_defs",
    "warn_return_any",
    "no_implicit_reexport",
    "strict_equality",
}


def test_mypy_is_strict_everywhere_with_no_override_relaxing_it() -> None:
    mypy = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    assert mypy.get("strict") is True
    assert not mypy.get("ignore_errors")
    for override in mypy.get("overrides", []):
        relaxed = {k for k, v in override.items() if k in STRICT_FLAGS and v is False}
        assert not relaxed and not override.get("ignore_errors"), override


def test_make_lint_type_checks_every_product_package() -> None:
    makefile = (ROOT / "Makefile").read_text()
    lint = makefile[makefile.index("\nlint:") :].split("\n\n")[0]
    checked = {
        target
        for line in re.findall(r"mypy (.+)", lint)
        for target in line.split()
        if not target.startswith("-")
    }
    assert checked >= PRODUCT, sorted(PRODUCT - checked)
    # And nothing else of the product exists unchecked: every top-level Python package is listed.
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "bench"}
    assert packages <= checked, sorted(packages - checked)
