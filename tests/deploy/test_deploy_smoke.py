"""Deploy-shaped smoke test: each staged folder installs into its own fresh venv and serves.

This is what Cloud Functions does with build/<name>/: `pip install -r requirements.txt` into
a clean environment, then functions-framework with the entry point. Nothing of the
repository is importable from there, so an import of a module that was not staged, or a
requirement missing from the function's own requirements.txt, fails here.

The venvs live under .local/cache/deploy-smoke/, one per function, keyed on the requirements
file and the interpreter; pip's wheel cache is .local/cache/pip. A changed requirements file
gets a new venv; an unchanged one reuses it, so a second run is quick.
"""

from __future__ import annotations

import fcntl
import glob
import hashlib
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.deploy import hcl

CACHE = hcl.ROOT / ".local" / "cache"
ENTRY_POINTS = {"upload": ("upload_api", "http"), "process": ("process_upload", "cloudevent")}
UPLOADS, RESULTS = "smoke-uploads", "smoke-results"
ORIGIN = "https://page.example"


def _runtime_python(tf: hcl.Config) -> str:
    """The interpreter matching the deployed runtime (python312 -> python3.12)."""
    runtime = str(tf.variables["python_runtime"]["default"])
    assert runtime.startswith("python3"), runtime
    binary = f"python3.{runtime.removeprefix('python3')}"
    # A pyenv shim is on PATH even for a version that is not active; it then exits 127.
    candidates = [shutil.which(binary), *sorted(glob.glob(str(
        Path.home() / ".pyenv" / "versions" / f"{binary.removeprefix('python')}*" / "bin" / binary
    )))]  # fmt: skip
    for found in filter(None, candidates):
        if subprocess.run([found, "-c", "pass"], capture_output=True, check=False).returncode == 0:
            return found
    raise AssertionError(f"{binary} (the deployed runtime {runtime}) is not installed here")


def _venv_for(folder: Path, python: str) -> Path:
    """The cached venv for this staged folder, built under a lock shared by all test sessions
    in this tree (two sessions must not build the same venv at once)."""
    lock_path = CACHE / "deploy-smoke" / f"{folder.name}.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _build_venv(folder, python)


def _build_venv(folder: Path, python: str) -> Path:
    requirements = (folder / "requirements.txt").read_bytes()
    version = subprocess.run(
        [python, "-c", "import sys; print(sys.version)"], capture_output=True, text=True, check=True
    ).stdout
    key = hashlib.sha256(requirements + version.encode()).hexdigest()[:16]
    venv = CACHE / "deploy-smoke" / f"{folder.name}-{key}"
    stamp = venv / ".installed"
    if stamp.exists():
        return venv
    # Venvs of older requirements, and a half-built one from an interrupted run, go.
    for old in venv.parent.glob(f"{folder.name}-*"):
        if old.is_dir():
            shutil.rmtree(old)
    # No --system-site-packages: only what requirements.txt names may be importable.
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    pip = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            # Byte-compiling every installed file costs more than the imports it would save.
            "--no-compile",
            "--cache-dir",
            str(CACHE / "pip"),
            "-r",
            str(folder / "requirements.txt"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert pip.returncode == 0, f"{folder.name}: pip install failed:\n{pip.stdout}{pip.stderr}"
    stamp.write_text(version, encoding="utf-8")
    return venv


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    url: str
    log: Path


def _serve(folder: Path, venv: Path, name: str, tmp: Path) -> Generator[Server, None, None]:
    target, signature = ENTRY_POINTS[name]
    port = _free_port()
    closed = _free_port()  # nothing listens here: any call to a backend fails loudly
    env = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(tmp),
        "PROJECT_ID": "smoke-project",
        "UPLOADS_BUCKET": UPLOADS,
        "RESULTS_BUCKET": RESULTS,
        "ALLOWED_ORIGINS": ORIGIN,
        "SIGNER_SERVICE_ACCOUNT": "smoke@smoke-project.iam.gserviceaccount.com",
        # The client libraries then use anonymous credentials and never look for real ones.
        "FIRESTORE_EMULATOR_HOST": f"127.0.0.1:{closed}",
        "STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{closed}",
    }
    log = tmp / f"{name}.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [
                str(venv / "bin" / "functions-framework"),
                "--source",
                "main.py",
                "--target",
                target,
                "--signature-type",
                signature,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=folder,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        while True:  # until it listens or dies; no clock involved
            if proc.poll() is not None:
                pytest.fail(f"{name} exited with {proc.returncode}:\n{log.read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", port)):
                    break
            except OSError:
                time.sleep(0.1)
        yield Server(f"http://127.0.0.1:{port}", log)
    finally:
        proc.terminate()
        proc.wait()


@pytest.fixture(scope="module")
def servers(
    staged: Path, tf: hcl.Config, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Server]]:
    python = _runtime_python(tf)
    tmp = tmp_path_factory.mktemp("smoke")
    # pip is single-threaded and half I/O: building both venvs at once uses both cores.
    with ThreadPoolExecutor(max_workers=len(ENTRY_POINTS)) as pool:
        venvs = dict(
            zip(
                ENTRY_POINTS,
                pool.map(lambda n: _venv_for(staged / n, python), ENTRY_POINTS),
                strict=True,
            )
        )
    running: dict[str, Server] = {}
    generators = []
    for name in ENTRY_POINTS:
        gen = _serve(staged / name, venvs[name], name, tmp)
        running[name] = next(gen)
        generators.append(gen)
    try:
        yield running
    finally:
        for gen in generators:
            gen.close()


def _request(
    url: str, method: str, headers: dict[str, str], body: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_upload_api_answers_cors_preflight(servers: dict[str, Server]) -> None:
    status, headers, _ = _request(
        f"{servers['upload'].url}/uploads",
        "OPTIONS",
        {"Origin": ORIGIN, "Access-Control-Request-Method": "POST"},
    )
    assert status == 204
    assert headers.get("Access-Control-Allow-Origin") == ORIGIN


def test_upload_api_answers_json_for_an_unknown_route(servers: dict[str, Server]) -> None:
    status, headers, body = _request(f"{servers['upload'].url}/no-such-route", "GET", {})
    assert status == 404
    assert headers.get("Content-Type", "").startswith("application/json")
    assert isinstance(json.loads(body), dict)


def test_process_ignores_an_object_outside_any_job(servers: dict[str, Server]) -> None:
    # A finalize event from the results bucket: no job owns it, and it must never be
    # processed (that would loop). The function answers 2xx so Eventarc does not retry.
    data = {
        "kind": "storage#object",
        "bucket": RESULTS,
        "name": "r/someone/result.jpg",
        "generation": "1732832936756275",
        "metageneration": "1",
        "contentType": "image/jpeg",
        "size": "1234",
    }
    status, _, body = _request(
        servers["process"].url,
        "POST",
        {
            "Content-Type": "application/json",
            "ce-specversion": "1.0",
            "ce-id": "smoke-1",
            "ce-time": "2026-01-01T00:00:00Z",
            "ce-type": "google.cloud.storage.object.v1.finalized",
            "ce-source": f"//storage.googleapis.com/projects/_/buckets/{RESULTS}",
            "ce-subject": "objects/r/someone/result.jpg",
        },
        json.dumps(data).encode(),
    )
    assert 200 <= status < 300, body
    # It took the "ignore" path, not some error path that happens to answer 2xx.
    assert b"process.ignored" in servers["process"].log.read_bytes()


def test_staged_process_function_detects_faces_from_its_own_folder(
    staged: Path, tf: hcl.Config
) -> None:
    # Redaction fails closed without a detector: the deployed folder must bring the model and
    # every library the detector loads. process_image is the public entry point; a plain
    # grey picture has no face, but the detector must run to say so.
    venv = _venv_for(staged / "process", _runtime_python(tf))
    probe = (
        "import cv2, numpy as np, imaging; "
        "ok, jpg = cv2.imencode('.jpg', np.full((240, 320, 3), 128, np.uint8)); "
        "r = imaging.process_image(jpg.tobytes(), ['mosaic_faces']); "
        "print(r.detector, len(r.faces))"
    )
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-c", probe],
        cwd=staged / "process",
        env={"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp")},
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    detector, faces = out.stdout.split()
    assert detector and faces == "0"
