"""The fast tier is what its name says: `make check`'s marker expression selects no test that
starts an emulator, drives a browser or fetches deploy tools, and keeps the pure ones."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _fast_tier_expression() -> str:
    found = re.search(r"^FAST_TIER := (.+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert found, "Makefile lost its FAST_TIER line"
    return found.group(1).strip()


def test_fast_tier_selects_no_emulator_browser_or_deploy_test(tmp_path: Path) -> None:
    report = tmp_path / "tiers.json"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         "-p", "tests.support.tier_report", "-m", _fast_tier_expression()],
        cwd=ROOT, capture_output=True, text=True, check=False,
        env={**os.environ, "GAZOKAKO_TIER_REPORT": str(report)},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    fixtures_by_test: dict[str, list[str]] = json.loads(report.read_text())
    files = {node.split("::")[0] for node in fixtures_by_test}

    # Nothing selected reaches the stack or the browser through any fixture...
    heavy = {"stack_handle", "stack", "browser", "new_context"}
    assert [n for n, used in fixtures_by_test.items() if heavy & set(used)] == []
    # ...or sits where every test builds venvs, or starts a stack of its own.
    assert not {f for f in files if f.startswith(("tests/deploy/", "tests/e2e/", "tests/web/"))}
    assert "tests/process/test_fault_load.py" not in files
    assert "tests/imaging/test_quality.py" not in files  # slow: `make test` runs it
    # The pure tests are all there.
    assert {"tests/imaging/test_decode.py", "tests/api/test_light_imports.py"} <= files
