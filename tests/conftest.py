"""Fixtures shared by every tier. The emulator stack starts once, only if a test asks for it.

The tiers are markers (pyproject.toml lists them): `stack` for every test that starts emulators,
`browser` for every test that drives Chromium, `deploy` for the deploy checks that build venvs
and fetch tools, `slow` for the detection quality harness. `make check` runs the rest. A test
is marked here by the fixtures it uses, so a new test needing the stack cannot land in the fast
tier by forgetting a decorator; modules that start a stack of their own mark themselves.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack.stack import Stack

TESTS = Path(__file__).resolve().parent

# A fixture (anywhere in a test's fixture closure) and the marker it implies.
MARKER_BY_FIXTURE = {"stack_handle": "stack", "browser": "browser"}
# Whole folders whose every test needs the same thing.
MARKER_BY_FOLDER = {"deploy": "deploy"}


def tier_markers(fixturenames: list[str], path: Path) -> set[str]:
    """The tier markers a test gets from its fixtures and its folder."""
    found = {marker for name, marker in MARKER_BY_FIXTURE.items() if name in fixturenames}
    folder = path.resolve().relative_to(TESTS).parts[0]
    if folder in MARKER_BY_FOLDER:
        found.add(MARKER_BY_FOLDER[folder])
    return found


# Every test this session collected (before `-m` deselects any): node id -> (fixtures, markers).
# tests/test_tiers.py reads it to check the tiers without collecting the suite a second time.
COLLECTED: dict[str, tuple[frozenset[str], frozenset[str]]] = {}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A conftest hook runs before pytest's own `-m` deselection, so it sees every test.
    for item in items:
        fixtures = list(getattr(item, "fixturenames", ()))
        for marker in tier_markers(fixtures, item.path):
            item.add_marker(marker)
        markers = frozenset(mark.name for mark in item.iter_markers())
        COLLECTED[item.nodeid] = (frozenset(fixtures), markers)


@pytest.fixture(scope="session")
def stack_handle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The whole local stack on free ports, for this test session only."""
    handle = Stack(tmp_path_factory.mktemp("stack"), env={})
    handle.start()
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture(scope="session")
def stack(stack_handle: Stack) -> dict[str, Any]:
    """The stack's addresses, the same dict `make dev` writes to .local/stack.json."""
    return stack_handle.urls
