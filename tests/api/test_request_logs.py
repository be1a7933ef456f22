"""Request log lines of the upload function never show a job id (issue 12, point 6).

The stack runs the functions under gunicorn, which keeps no access log. The functions
framework's `--debug` server (werkzeug) prints a line per request with its path, and Flask logs
"Exception on <path>": both must hide the id that `/jobs/{id}` carries.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import requests

from devstack.procs import ManagedProcess, free_port, http_answers
from devstack.stack import ROOT, Stack
from tests.support.api import create_upload


def test_debug_server_request_lines_hide_the_job_id(stack_handle: Stack, tmp_path: Path) -> None:
    port = free_port()
    proc = ManagedProcess(
        "upload-debug",
        [
            str(Path(sys.executable).parent / "functions-framework"),
            "--source",
            str(ROOT / "functions" / "upload" / "main.py"),
            "--target",
            "upload_api",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--debug",
        ],
        env={
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            **stack_handle.function_env(),
        },
        log_dir=tmp_path,
        cwd=ROOT,
    )
    proc.start()
    url = f"http://127.0.0.1:{port}"
    try:
        proc.wait_until(lambda: http_answers(url))
        created = create_upload(url, b"x" * 10, "image/png")
        job_id = created["id"]
        assert requests.get(f"{url}/jobs/{job_id}", timeout=30).status_code == 200
        assert requests.delete(f"{url}/jobs/{job_id}", timeout=30).status_code == 204
        assert requests.get(f"{url}/jobs/{job_id}", timeout=30).status_code == 404
    finally:
        proc.stop()
    log = proc.log_path.read_text(errors="replace")
    # The request lines are there (the check below looks at real lines) but without the id.
    assert "GET /jobs/" in log and "DELETE /jobs/" in log, log
    assert job_id not in log
