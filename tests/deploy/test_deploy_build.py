"""The release build cannot take over the project (issue 12, point 8).

- Tests run in their own build (cloudbuild-test.yaml) as an account with no deploy rights;
  the deploy build (cloudbuild.yaml) runs no test, no `make`, no pip install of anything.
- Every image is pinned by digest; firebase-tools comes from a lock file, not `npx`.
- The deployer's roles (docs/DEPLOY.md, step 3) are what applying infra/ needs: project IAM
  only for the roles infra/ grants, and service-account rights only on infra/'s accounts.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from tests.deploy import hcl

DEPLOY_BUILD = hcl.ROOT / "cloudbuild.yaml"
TEST_BUILD = hcl.ROOT / "cloudbuild-test.yaml"
DEPLOY_DOC = hcl.ROOT / "docs" / "DEPLOY.md"
FIREBASE_TOOLS = hcl.INFRA / "firebase-tools"
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def _load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    return loaded


def _steps(build: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {step["id"]: step for step in build["steps"]}


def _script(step: dict[str, Any]) -> str:
    return " ".join([str(step.get("entrypoint", "")), *map(str, step.get("args", []))])


def _images(build: dict[str, Any]) -> list[str]:
    """Each step's image with the build's own substitutions filled in."""
    subs = build.get("substitutions", {})
    images = []
    for step in build["steps"]:
        name = str(step["name"])
        for key, value in subs.items():
            name = name.replace(f"${{{key}}}", str(value))
        images.append(name)
    return images


def image_problems(image: str) -> list[str]:
    if "$" in image:
        return [f"{image}: an unresolved substitution"]
    if not DIGEST.search(image):
        return [f"{image}: not pinned by digest"]
    tag = image.split("@", 1)[0].rsplit("/", 1)[-1].partition(":")[2]
    if not re.match(r"\d+(\.\d+)*(-|$)", tag):
        return [f"{image}: the tag does not name a version"]
    return []


def test_the_deploy_build_runs_tests_in_a_build_of_their_own() -> None:
    build = _load(DEPLOY_BUILD)
    steps = _steps(build)
    assert list(steps) == ["test", "stage", "deploy", "stage-web", "publish-web"]
    for step_id, after in [
        ("stage", "test"),
        ("deploy", "stage"),
        ("stage-web", "deploy"),
        ("publish-web", "stage-web"),
    ]:
        assert steps[step_id]["waitFor"] == [after]
    # The test step only submits the test build and waits for its outcome; a failed or
    # cancelled test build stops the deploy.
    test = _script(steps["test"])
    assert "gcloud builds submit . --config=cloudbuild-test.yaml" in test
    assert "SUCCESS) " in test and "exit 1" in test
    assert "scripts/stage.py all" in _script(steps["stage"])
    assert "terraform -chdir=infra apply" in _script(steps["deploy"])


def test_no_third_party_code_runs_with_deploy_rights() -> None:
    # Nothing in the deploy build installs packages unchecked or runs the test suite: the
    # functions' dependencies are installed by Cloud Functions from the hashed locks,
    # firebase-tools from its lock, and staging uses the standard library only.
    for step in _load(DEPLOY_BUILD)["steps"]:
        script = _script(step)
        for forbidden in ("make ", "pytest", "pip install", "npx", ".venv", "apt-get"):
            assert forbidden not in script, (step["id"], forbidden)


def test_the_test_build_runs_as_the_tester_and_deploys_nothing() -> None:
    build = _load(TEST_BUILD)
    tester = (
        "projects/$PROJECT_ID/serviceAccounts/gazokako-tester@$PROJECT_ID.iam.gserviceaccount.com"
    )
    assert build["serviceAccount"] == tester
    deployer = _load(DEPLOY_BUILD)["serviceAccount"]
    assert deployer.replace("deployer", "tester") == tester
    steps = _steps(build)
    assert list(steps) == ["test"]
    script = _script(steps["test"])
    assert "make test" in script
    for forbidden in ("terraform", "gcloud", "firebase", "stage.py"):
        assert forbidden not in script, forbidden
    assert build["options"]["logging"] == "CLOUD_LOGGING_ONLY"


@pytest.mark.parametrize("path", [DEPLOY_BUILD, TEST_BUILD], ids=lambda p: p.name)
def test_every_image_is_pinned_by_digest(path: Path) -> None:
    images = _images(_load(path))
    assert images
    assert [p for image in images for p in image_problems(image)] == []


def test_the_image_check_can_fail() -> None:
    good = "hashicorp/terraform:1.11.4@sha256:" + "0" * 64
    assert image_problems(good) == []
    assert image_problems("hashicorp/terraform:1.11.4") == [
        "hashicorp/terraform:1.11.4: not pinned by digest"
    ]
    assert image_problems("node:latest@sha256:" + "0" * 64) != []
    assert image_problems("${_NODE_IMAGE}") != []


def test_both_builds_test_with_the_same_image() -> None:
    deploy = _load(DEPLOY_BUILD)
    test_image = _images(_load(TEST_BUILD))[0]
    assert deploy["substitutions"]["_CLI_IMAGE"] == test_image


def test_firebase_tools_is_pinned_and_installed_from_its_lock() -> None:
    package = json.loads((FIREBASE_TOOLS / "package.json").read_text(encoding="utf-8"))
    version = package["dependencies"]["firebase-tools"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), version
    lock = json.loads((FIREBASE_TOOLS / "package-lock.json").read_text(encoding="utf-8"))
    packages = lock["packages"]
    assert packages["node_modules/firebase-tools"]["version"] == version
    unhashed = [
        name
        for name, entry in packages.items()
        if name and not str(entry.get("integrity", "")).startswith("sha512-")
    ]
    assert unhashed == []
    publish = _script(_steps(_load(DEPLOY_BUILD))["publish-web"])
    assert "npm ci --prefix infra/firebase-tools --ignore-scripts" in publish
    assert "node_modules/.bin/firebase deploy" in publish


# --- the deployer's roles (docs/DEPLOY.md, step 3) -------------------------------------------


def _bootstrap() -> str:
    text = DEPLOY_DOC.read_text(encoding="utf-8")
    start = text.index("**3. Accounts for Cloud Build**")
    return text[start : text.index("**4. Settings.**", start)]


def _role_loop(text: str, marker: str) -> set[str]:
    # The first `for role in ...; do` loop after the comment that names whose roles they are.
    joined = text.replace("\\\n", " ")
    match = re.search(rf"{re.escape(marker)}.*?for role in ([^;]+); do", joined, re.S)
    assert match, marker
    return {f"roles/{role}" for role in match[1].split()}


def _project_roles_infra_grants(tf: hcl.Config) -> set[str]:
    return {str(b.body["role"]) for b in tf.of_type("google_project_iam_member")}


def test_the_deployer_holds_no_unconditional_power_over_iam() -> None:
    project_roles = _role_loop(_bootstrap(), "# deployer, project-wide:")
    assert project_roles, "no project-wide roles found"
    assert not project_roles & {"roles/owner", "roles/editor"}
    # Project IAM admin would let it grant itself Owner; service-account rights project-wide
    # would let it act as any account in the project, e.g. one with Editor.
    for role in (
        "roles/resourcemanager.projectIamAdmin",
        "roles/iam.serviceAccountAdmin",
        "roles/iam.serviceAccountUser",
        "roles/iam.serviceAccountTokenCreator",
    ):
        assert role not in project_roles, role


def test_the_deployers_project_iam_is_limited_to_the_roles_infra_grants(tf: hcl.Config) -> None:
    text = _bootstrap()
    condition = re.search(r"hasOnly\(\[([^\]]+)\]\)", text)
    assert condition, "the projectIamAdmin grant carries no modifiedGrantsByRole condition"
    allowed = set(re.findall(r"'(roles/[\w.]+)'", condition[1]))
    assert "iam.googleapis.com/modifiedGrantsByRole" in text
    assert "--role=roles/resourcemanager.projectIamAdmin" in text
    assert "--condition-from-file" in text
    # Exactly what infra/ grants at project level: a new grant there fails here until the
    # bootstrap lets the deployer make it.
    assert allowed == _project_roles_infra_grants(tf)
    assert not allowed & {"roles/owner", "roles/editor", "roles/resourcemanager.projectIamAdmin"}


def test_the_deployer_acts_only_as_the_accounts_infra_manages(tf: hcl.Config) -> None:
    text = _bootstrap()
    prefix = str(tf.variables["name_prefix"]["default"])
    names = {str(b.body["account_id"]).replace("${var.name_prefix}", prefix) for b in
             tf.of_type("google_service_account")}  # fmt: skip
    created = re.search(r"for sa in ([^;]+); do\s+gcloud iam service-accounts create", text)
    assert created, "the bootstrap does not create the runtime accounts"
    assert {f"{prefix}-{sa}" for sa in created[1].split()} == names
    per_account = _role_loop(text, "# deployer, on each runtime account:")
    assert per_account == {"roles/iam.serviceAccountUser", "roles/iam.serviceAccountAdmin"}


def test_terraform_adopts_the_accounts_the_bootstrap_creates(tf: hcl.Config) -> None:
    targets = {str(i["to"]): str(i["id"]) for i in tf.imports}
    for block in tf.of_type("google_service_account"):
        account = str(block.body["account_id"])
        assert targets.get(f"${{{block.address}}}") == (
            f"projects/${{var.project_id}}/serviceAccounts/{account}"
            "@${var.project_id}.iam.gserviceaccount.com"
        ), block.address
    assert len(targets) == len(tf.of_type("google_service_account"))


def test_the_tester_can_write_logs_and_nothing_else() -> None:
    text = _bootstrap()
    grants = re.findall(r'--member="serviceAccount:\$TESTER"\s+(?:\\\s+)?--role=(\S+)', text)
    assert sorted(grants) == ["roles/logging.logWriter", "roles/storage.objectViewer"]
    # The object read is on the bucket of build sources only, never project-wide.
    assert re.search(
        r'gcloud storage buckets add-iam-policy-binding "gs://\$\{PROJECT\}_cloudbuild"'
        r'\s+(?:\\\s+)?--member="serviceAccount:\$TESTER"',
        text,
    )
