"""Import rules between the project's top-level folders, read from the source (no imports run).

tests/ never imports bench/ (bench/ may use tests/support/: one direction, no cycle), and no
module imports another package's private module (a name starting with "_"), whose layout may
change in any release.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("gazokako", "imaging", "devstack", "functions", "tests", "bench", "scripts")


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
            yield from ((node.lineno, f"{node.module}.{a.name}") for a in node.names)


def _sources(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def test_tests_never_import_bench() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line} {name}"
        for path in _sources("tests")
        for line, name in _imports(path)
        if name == "bench" or name.startswith("bench.")
    ]
    assert found == []


def test_no_private_module_of_another_package_is_imported() -> None:
    own = {"gazokako", "imaging", "devstack", "tests", "bench", "main"}
    found = [
        f"{path.relative_to(ROOT)}:{line} {name}"
        for folder in FOLDERS
        for path in _sources(folder)
        for line, name in _imports(path)
        if name.split(".")[0] not in own
        and any(part.startswith("_") and not part.startswith("__") for part in name.split("."))
    ]
    assert found == []
