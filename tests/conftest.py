"""Fixtures shared by every tier. The emulator stack starts once, only if a test asks for it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from devstack.stack import Stack


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
