"""The fast tier is what its name says: `make check`'s marker expression selects no test that
starts an emulator, drives a browser or fetches deploy tools, and keeps the pure ones.

When this session collected the whole suite (as `make check` and `make test` do), the tests'
fixtures and markers come from tests/conftest.py's record; run alone, this test collects the
suite in a child pytest instead.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import COLLECTED

ROOT = Path(__file__).resolve().parents[1]
MARKERS = ("stack", "browser", "deploy", "slow")
# One module per top-level folder: present only when the whole suite was collected.
WHOLE_SUITE = (
    "tests/api/test_uploads.py",
    "tests/deploy/test_deploy_hcl.py",
    "tests/e2e/test_thin_path.py",
    "tests/imaging/test_quality.py",
    "tests/process/test_fault_load.py",
    "tests/web/test_web_page.py",
)

Suite = dict[str, tuple[frozenset[str], frozenset[str]]]


def _fast_tier_expression() -> str:
    found = re.search(r"^FAST_TIER := (.+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert found, "Makefile lost its FAST_TIER line"
    return found.group(1).strip()


def _selects(expression: str, markers: frozenset[str]) -> bool:
    """pytest's `-m` for an expression of marker names, `not`, `and`, `or` and parentheses:
    the same grammar as Python's, checked before it is evaluated."""
    assert re.fullmatch(r"[a-z_ ()]+", expression), expression
    names = set(re.findall(r"[a-z_]+", expression)) - {"not", "and", "or"}
    assert names <= set(MARKERS), names
    return bool(eval(expression, {"__builtins__": {}}, {n: n in markers for n in names}))


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Suite:
    files = {node.split("::")[0] for node in COLLECTED}
    if set(WHOLE_SUITE) <= files:
        return COLLECTED
    report = tmp_path_factory.mktemp("tiers") / "tiers.json"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         "-p", "tests.support.tier_report"],
        cwd=ROOT, capture_output=True, text=True, check=False,
        env={**os.environ, "GAZOKAKO_TIER_REPORT": str(report)},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    raw = json.loads(report.read_text())
    return {node: (frozenset(f), frozenset(m)) for node, (f, m) in raw.items()}


def test_fast_tier_selects_no_emulator_browser_or_deploy_test(suite: Suite) -> None:
    expression = _fast_tier_expression()
    fast = {
        node: fixtures
        for node, (fixtures, markers) in suite.items()
        if _selects(expression, markers)
    }
    files = {node.split("::")[0] for node in fast}

    # Nothing selected reaches the stack or the browser through any fixture...
    heavy = {"stack_handle", "stack", "browser", "new_context"}
    assert [node for node, fixtures in fast.items() if heavy & fixtures] == []
    # ...or sits where every test builds venvs, or starts a stack of its own.
    assert not {f for f in files if f.startswith(("tests/deploy/", "tests/e2e/", "tests/web/"))}
    assert "tests/process/test_fault_load.py" not in files
    assert "tests/imaging/test_quality.py" not in files  # slow: `make test` runs it
    # The pure tests are all there, and every test of the suite is in one tier or the other.
    assert {
        "tests/imaging/test_decode.py",
        "tests/api/test_light_imports.py",
        "tests/api/test_validation.py",  # in-process, on the fakes
        "tests/fakes/test_contract.py",  # its fake half; the emulator half is `stack`
    } <= files
    assert not [n for n in fast if n.startswith("tests/fakes/") and "[emulator]" in n]
    assert len(suite) > len(fast) > 100


def test_not_stack_selects_no_test_that_starts_the_stack(suite: Suite) -> None:
    starts_stack = {
        node
        for node, (fixtures, _) in suite.items()
        if "stack_handle" in fixtures or node.startswith("tests/process/test_fault_load.py")
    }
    assert starts_stack  # the suite has such tests, so the check below can fail
    assert [node for node in starts_stack if _selects("not stack", suite[node][1])] == []
