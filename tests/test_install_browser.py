"""scripts/install-browser.sh installs the CJK fonts even where Chromium is already present.

Runs the real script with stand-ins for dpkg-query, apt-get, id and fc-list on PATH, so no
package is installed and nothing is downloaded.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "install-browser.sh"


def _tool(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text("#!/usr/bin/env bash\n" + body + "\n", encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def _run(tmp_path: Path, installed: set[str], *, chromium: bool) -> list[str]:
    """Run the script; returns the stand-in apt-get's calls. ``chromium``: present before."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "apt.log"
    browser = tmp_path / "chromium"
    known = " ".join(sorted(installed))
    _tool(
        bin_dir,
        "dpkg-query",
        f'for p in {known}; do [[ ${{@: -1}} == "$p" ]] && {{ echo "install ok installed"; '
        "exit 0; }; done; exit 1",
    )
    # "Installing" leaves a Chromium behind, as the real package would.
    _tool(
        bin_dir,
        "apt-get",
        f'echo "$*" >> {log}; if [[ $1 == install ]]; then '
        f'printf "#!/bin/sh\\necho Chromium\\n" > {browser}; chmod +x {browser}; fi',
    )
    _tool(bin_dir, "id", "echo 0")
    _tool(bin_dir, "fc-list", "echo 'Noto Sans CJK JP'")
    if chromium:
        _tool(tmp_path, "chromium", "echo Chromium 1.0")
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "CHROMIUM": str(browser)}
    subprocess.run(["bash", str(SCRIPT)], check=True, env=env, capture_output=True, text=True)
    return [c for c in log.read_text().splitlines() if c] if log.exists() else []


def _installs(calls: list[str]) -> list[set[str]]:
    return [set(c.split()) for c in calls if c.startswith("install")]


def test_fonts_are_installed_when_chromium_is_already_there(tmp_path: Path) -> None:
    installs = _installs(_run(tmp_path, {"chromium", "chromium-driver"}, chromium=True))
    assert len(installs) == 1
    assert "fonts-noto-cjk" in installs[0] and "chromium" not in installs[0]


def test_nothing_is_installed_when_everything_is_there(tmp_path: Path) -> None:
    assert _run(tmp_path, {"chromium", "chromium-driver", "fonts-noto-cjk"}, chromium=True) == []


@pytest.mark.parametrize("installed", [set(), {"fonts-noto-cjk"}])
def test_chromium_is_installed_when_missing(tmp_path: Path, installed: set[str]) -> None:
    installs = _installs(_run(tmp_path, installed, chromium=False))
    assert len(installs) == 1
    assert {"chromium", "chromium-driver"} <= installs[0]
    assert ("fonts-noto-cjk" in installs[0]) == (not installed)
