"""An extra upload-function instance on a stack's emulators, with settings of its own.

The shared stack's instance has generous limits and trusts no proxy (every test shares
127.0.0.1). Rate-limit tests and the load bench start their own instance with the production
setting TRUSTED_PROXY_HOPS=1, so X-Forwarded-For can stand for many distinct clients.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from devstack.procs import ManagedProcess, free_port, http_answers
from devstack.stack import ROOT, Stack


def start_upload_function(
    stack: Stack, name: str, overrides: Mapping[str, str], *, threads: int = 8
) -> tuple[ManagedProcess, str]:
    port = free_port()
    ff = str(Path(sys.executable).parent / "functions-framework")
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
        **stack.function_env(),
        "THREADS": str(threads),
        **overrides,
    }
    proc = ManagedProcess(
        name,
        [
            ff,
            "--source",
            str(ROOT / "functions" / "upload" / "main.py"),
            "--target",
            "upload_api",
            "--signature-type",
            "http",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        log_dir=stack.log_dir,
        cwd=ROOT,
    )
    proc.start()
    url = f"http://127.0.0.1:{port}"
    try:
        proc.wait_until(lambda: http_answers(url))
    except BaseException:
        proc.stop()
        raise
    return proc, url
