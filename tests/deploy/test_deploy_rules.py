"""infra/firestore.rules loaded into the real Firestore emulator: a client is refused.

The functions reach Firestore through server client libraries as their own service accounts,
which security rules do not apply to; what the rules guard is the client API that Firebase
SDKs (and plain REST) use with nothing but the project ID. So the check is an unauthenticated
REST request, the way a stranger with the page's public config would make it.

Each ruleset gets its own emulator (`gcloud emulators firestore start --rules=FILE`, which
applies one file to every project): the project's rules, and an allow-all file that shows the
very same requests succeed when rules permit them, so a refusal for any other reason (a wrong
URL, an emulator that is not up) cannot pass for the rules working.
"""

from __future__ import annotations

import functools
import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from devstack.procs import ManagedProcess, free_port, http_answers
from tests.deploy import hcl

pytestmark = pytest.mark.stack

RULES = hcl.INFRA / "firestore.rules"
ALLOW_ALL = """rules_version = '2';
service cloud.firestore {
  match /databases/{database}/documents {
    match /{document=**} {
      allow read, write: if true;
    }
  }
}
"""
PROJECT = "rules-check"


def _start(name: str, rules: Path, log_dir: Path) -> tuple[ManagedProcess, str]:
    port = free_port()
    proc = ManagedProcess(
        name,
        [
            "gcloud",
            "emulators",
            "firestore",
            "start",
            f"--host-port=127.0.0.1:{port}",
            f"--rules={rules}",
        ],
        # gcloud finds Java through the environment, as in devstack. A config folder of its
        # own: the emulator writes its env.yaml there, and two emulators starting at once (here,
        # or another test session's) must not share that file.
        env={**os.environ, "CLOUDSDK_CONFIG": str(log_dir / f"{name}-gcloud")},
        log_dir=log_dir,
    )
    proc.start()
    url = f"http://127.0.0.1:{port}"
    return proc, url


@pytest.fixture(scope="module")
def emulators(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """{"project": URL, "allow_all": URL}: two emulators, started together, stopped by PID."""
    tmp = tmp_path_factory.mktemp("rules")
    allow_all = tmp / "allow-all.rules"
    allow_all.write_text(ALLOW_ALL, encoding="utf-8")
    started = [_start("project-rules", RULES, tmp), _start("allow-all-rules", allow_all, tmp)]
    try:
        with ThreadPoolExecutor(len(started)) as pool:
            waits = [
                pool.submit(proc.wait_until, functools.partial(http_answers, url))
                for proc, url in started
            ]
            for wait in waits:
                wait.result()
        yield {"project": started[0][1], "allow_all": started[1][1]}
    finally:
        for proc, _ in started:
            proc.stop()


def _documents(base: str) -> str:
    return f"{base}/v1/projects/{PROJECT}/databases/(default)/documents"


def _call(method: str, url: str, body: dict[str, object] | None = None) -> tuple[int, str]:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if data else {}
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


# The three ways a stranger would go after the jobs: list them, read one, write one.
REQUESTS = {
    "list": ("GET", "/jobs", None),
    "get": ("GET", "/jobs/some-job-id", None),
    "create": (
        "POST",
        "/jobs?documentId=planted",
        {"fields": {"status": {"stringValue": "done"}}},
    ),
}


@pytest.mark.parametrize("kind", sorted(REQUESTS))
def test_an_unauthenticated_client_is_refused(emulators: dict[str, str], kind: str) -> None:
    method, path, body = REQUESTS[kind]
    status, text = _call(method, _documents(emulators["project"]) + path, body)
    assert status == 403, text
    assert "PERMISSION_DENIED" in text
    # The emulator names the rule that refused: ours, for this very operation.
    assert f"for '{kind}'" in text


@pytest.mark.parametrize("kind", sorted(REQUESTS))
def test_the_same_request_passes_where_rules_allow_it(emulators: dict[str, str], kind: str) -> None:
    method, path, body = REQUESTS[kind]
    status, text = _call(method, _documents(emulators["allow_all"]) + path, body)
    # get of a document that does not exist is a 404, i.e. the rules let it through.
    assert status in ((404,) if kind == "get" else (200,)), text
