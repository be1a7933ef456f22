"""The functions' hashed lock files: complete, hashed, and in step with the exact pins.

functions/<name>/requirements.lock is what staging ships as the deployed requirements.txt
(`make lock` writes it). The smoke test (test_deploy_smoke.py) installs it into a fresh venv
of the runtime's Python with pip in hash-checking mode, which proves it is complete; these
tests keep it honest without the network.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.deploy import hcl
from tests.deploy.conftest import load_stage_script

FUNCTIONS = ("upload", "process")
HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")
# The only options a lock may carry: hash-checking mode, and wheels only (an sdist would run
# its own build code inside the deploy build).
OPTIONS = {"--require-hashes", "--only-binary :all:"}


def _name(raw: str) -> str:
    return re.sub(r"[-_.]+", "-", raw).lower()


def requirement_lines(text: str) -> list[str]:
    """Logical lines of a requirements file: continuations joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", text)
    lines = [re.sub(r"(^|\s)#.*$", "", line).strip() for line in joined.splitlines()]
    return [line for line in lines if line]


def lock_problems(text: str) -> list[str]:
    """Everything that would let pip install a file nobody hashed, or an unpinned package."""
    problems = []
    lines = requirement_lines(text)
    if "--require-hashes" not in lines:
        problems.append("no --require-hashes line")
    for line in lines:
        if line.startswith("-"):
            if line not in OPTIONS:
                problems.append(f"unexpected option {line!r}")
            continue
        requirement = line.split(" --hash", 1)[0].strip()
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*==[A-Za-z0-9.+!-]+", requirement):
            problems.append(f"not pinned exactly: {requirement!r}")
        if not HASH.search(line):
            problems.append(f"no sha256 hash: {requirement!r}")
        if "--hash=" in line and len(HASH.findall(line)) != line.count("--hash="):
            problems.append(f"a hash that is not sha256: {requirement!r}")
    return problems


def pins(text: str) -> dict[str, str]:
    found = {}
    for line in requirement_lines(text):
        if line.startswith("-"):
            continue
        name, version = line.split(" --hash", 1)[0].strip().split("==", 1)
        found[_name(name)] = version
    return found


def _lock(name: str) -> Path:
    return hcl.ROOT / "functions" / name / "requirements.lock"


@pytest.mark.parametrize("name", FUNCTIONS)
def test_every_requirement_of_the_lock_is_pinned_and_hashed(name: str) -> None:
    text = _lock(name).read_text(encoding="utf-8")
    assert lock_problems(text) == []
    assert len(pins(text)) > 20  # the whole closure, not the handful of direct pins


def test_the_lock_check_can_fail() -> None:
    good = "--require-hashes\nflask==3.1.3 \\\n    --hash=sha256:" + "a" * 64 + "\n"
    assert lock_problems(good) == []
    assert lock_problems(good.replace("--require-hashes\n", "")) == ["no --require-hashes line"]
    assert lock_problems(good + "click==8.5.1\n") == ["no sha256 hash: 'click==8.5.1'"]
    assert lock_problems(good + "werkzeug>=3 --hash=sha256:" + "b" * 64 + "\n") == [
        "not pinned exactly: 'werkzeug>=3'"
    ]
    assert lock_problems(good + "--extra-index-url https://example.invalid\n") == [
        "unexpected option '--extra-index-url https://example.invalid'"
    ]


@pytest.mark.parametrize("name", FUNCTIONS)
def test_the_lock_follows_the_functions_exact_pins(name: str) -> None:
    # A pin changed or added in requirements.txt without `make lock` fails here.
    folder = hcl.ROOT / "functions" / name
    wanted = pins((folder / "requirements.txt").read_text(encoding="utf-8"))
    assert wanted, "requirements.txt pins nothing"
    locked = pins(_lock(name).read_text(encoding="utf-8"))
    assert {n: locked.get(n) for n in wanted} == wanted, "run `make lock`"


@pytest.mark.parametrize("name", FUNCTIONS)
def test_the_lock_was_resolved_for_the_deployed_runtime(name: str, tf: hcl.Config) -> None:
    runtime = str(tf.variables["python_runtime"]["default"])  # python312
    version = f"3.{runtime.removeprefix('python3')}"
    first = _lock(name).read_text(encoding="utf-8").splitlines()[0]
    assert f"for Python {version} on Linux x86_64" in first, "run `make lock` (runtime changed)"


def test_make_lock_resolves_for_the_runtime_named_in_infra(tf: hcl.Config) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("gazokako_lock", hcl.ROOT / "scripts/lock.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    runtime = str(tf.variables["python_runtime"]["default"])
    assert module.runtime_python() == f"3.{runtime.removeprefix('python3')}"
    assert module.INDEX == "https://pypi.org/simple"
    stage = load_stage_script()
    assert module.LOCK_FILE == stage.LOCK_FILE == "requirements.lock"
