"""`make dev`'s program as a user runs it: starts beside another stack, stops with no orphans."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

from devstack.stack import ENV_FILE, ROOT, env_lines

REQUIRED_KEYS = {
    "web",
    "upload_api",
    "process",
    "storage",
    "firestore",
    "pubsub",
    "uploads_bucket",
    "results_bucket",
    "project",
}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie has exited; only its parent's wait is missing.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ", 1)[1].startswith("Z"))


def _group_members(pgid: int) -> list[int]:
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().split(") ", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def test_up_runs_beside_another_stack_and_sigterm_leaves_no_orphans(
    stack: dict[str, Any], tmp_path: Path
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "devstack", "up", "--state-dir", str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("GAZOKAKO_")},
            # A setting of the user's reaches both the upload function and the page.
            "MAX_UPLOAD_BYTES": "7000000",
        },
    )
    stack_file = tmp_path / "stack.json"
    try:
        for _ in range(1200):
            if stack_file.exists() or proc.poll() is not None:
                break
            time.sleep(0.1)
        assert stack_file.exists(), proc.stdout.read() if proc.stdout else ""
        urls = json.loads(stack_file.read_text())
        assert set(urls) >= REQUIRED_KEYS
        # Every port differs from the session stack's: the two run side by side.
        assert urls["upload_api"] != stack["upload_api"]
        assert urls["storage"] != stack["storage"]
        page = requests.get(urls["web"], timeout=10)
        assert page.status_code == 200
        config = requests.get(urls["web"] + "config.json", timeout=10).json()
        assert config == {"api_base": urls["upload_api"], "max_bytes": 7_000_000}
        too_big = requests.post(
            urls["upload_api"] + "/uploads",
            json={
                "filename": "big.jpg",
                "content_type": "image/jpeg",
                "size": 7_000_001,
                "ops": ["grayscale"],
            },
            timeout=10,
        )
        assert too_big.status_code == 413, too_big.text
        assert too_big.json()["error"]["code"] == "too_large"
        pids = list(urls["pids"].values())
        groups = {pid: _group_members(pid) for pid in pids}
        assert all(groups.values()), groups
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    # The environment lines are printed beside the URLs and written where the docs source them.
    lines = env_lines(urls)
    assert lines == (tmp_path / ENV_FILE).read_text().splitlines()[1:]
    printed = [line.strip() for line in out.splitlines()]
    assert all(line in printed for line in lines), out
    for pid, members in groups.items():
        leftover = [m for m in [pid, *members] if _pid_alive(m)]
        assert not leftover, f"process group {pid} left {leftover}"
