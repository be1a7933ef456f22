"""Unit tests of infra/ as parsed HCL: the invariants that keep the deployment private and sane."""

from __future__ import annotations

import re

import pytest

from tests.deploy import hcl

FUNCTIONS = ("upload", "process", "sweep")
# The zip each function is built from (scripts/stage.py): the sweep is another entry point of
# the process function's folder.
SOURCE_OF = {"upload": "upload", "process": "process", "sweep": "process"}
ENTRY_POINT = {"upload": "upload_api", "process": "process_upload", "sweep": "sweep_reviews"}
# Review revisions: another function from the process folder, under the process account.
REVIEW = "review"
PUBLIC_MEMBERS = ("allUsers", "allAuthenticatedUsers")
PRIMITIVE_ROLES = {"roles/owner", "roles/editor", "roles/viewer"}
# The single anonymous grant: browsers call the upload API (see infra/public.tf).
PUBLIC_EXCEPTION = "google_cloud_run_service_iam_member.upload_public_invoker"


def _function(tf: hcl.Config, name: str) -> hcl.Block:
    return tf.get("google_cloudfunctions2_function", name)


def _split_top_level(text: str) -> list[str]:
    """Split an HCL object body on the commas that are not inside (), [], {} or quotes."""
    parts, depth, quoted, current = [], 0, False, ""
    for char in text:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in "([{":
            depth += 1
        elif not quoted and char in ")]}":
            depth -= 1
        if char == "," and depth == 0 and not quoted:
            parts.append(current)
            current = ""
        else:
            current += char
    return [p.strip() for p in [*parts, current] if p.strip()]


def _env(tf: hcl.Config, name: str) -> dict[str, str]:
    """A function's environment: merge(local.common_env, {...}) resolved by hand.

    Values come back in python-hcl2's form for expressions, `${...}`.
    """
    raw = hcl.one(_function(tf, name).body, "service_config")["environment_variables"]
    match = re.fullmatch(r"\$\{merge\(local\.common_env, \{(.*)\}\)\}", raw, re.S)
    assert match, f"{name}: environment_variables should merge local.common_env: {raw!r}"
    own = {}
    for item in _split_top_level(match[1]):
        key, value = (part.strip() for part in item.split("=", 1))
        own[key.strip('"')] = value.strip('"') if value.startswith('"') else f"${{{value}}}"
    return {**tf.locals["common_env"], **own}


def test_every_function_is_parsed(tf: hcl.Config) -> None:
    names = sorted(b.name for b in tf.of_type("google_cloudfunctions2_function"))
    assert names == sorted((*FUNCTIONS, REVIEW))


def test_the_trigger_watches_the_uploads_bucket_only(tf: hcl.Config) -> None:
    trigger = hcl.one(_function(tf, "process").body, "event_trigger")
    assert trigger["event_type"] == "google.cloud.storage.object.v1.finalized"
    assert trigger["event_filters"] == [
        {"attribute": "bucket", "value": "${google_storage_bucket.uploads.name}"}
    ]
    # Transient failures raise so Eventarc redelivers; without retries a job would be lost.
    assert trigger["retry_policy"] == "RETRY_POLICY_RETRY"


def test_the_results_bucket_never_triggers_anything(tf: hcl.Config) -> None:
    trigger_types = {"google_eventarc_trigger", "google_storage_notification"}
    for block in tf.blocks:
        sources = []
        if block.type in trigger_types:
            sources.append(block.body)
        sources.extend(block.body.get("event_trigger", []))
        for source in sources:
            for path, leaf in hcl.walk(source):
                assert "google_storage_bucket.results" not in str(leaf), (
                    f"{block.address}.{path} makes the results bucket a trigger source"
                )
    # Exactly three triggers in the whole configuration: the uploads bucket's checked above,
    # the review function's on the revisions topic (below) and the review sweep's tick (a
    # Pub/Sub topic, test_the_sweep_runs_on_a_schedule).
    triggers = [b for b in tf.blocks if b.type in trigger_types or "event_trigger" in b.body]
    assert sorted(b.address for b in triggers) == [
        "google_cloudfunctions2_function.process",
        "google_cloudfunctions2_function.review",
        "google_cloudfunctions2_function.sweep",
    ]


def test_the_review_trigger_is_the_revisions_topic_with_retries(tf: hcl.Config) -> None:
    trigger = hcl.one(_function(tf, REVIEW).body, "event_trigger")
    assert trigger["event_type"] == "google.cloud.pubsub.topic.v1.messagePublished"
    assert trigger["pubsub_topic"] == "${google_pubsub_topic.revisions.id}"
    assert trigger["retry_policy"] == "RETRY_POLICY_RETRY"
    assert trigger["service_account_email"] == "${google_service_account.trigger.email}"
    assert "event_filters" not in trigger
    # The upload API publishes to that topic: it names it, and may publish to it alone.
    assert _env(tf, "upload")["REVISIONS_TOPIC"] == "${google_pubsub_topic.revisions.name}"
    grants = [
        (b.body["topic"], b.body["role"], b.body["member"])
        for b in tf.of_type("google_pubsub_topic_iam_member")
        if b.body["topic"] == "${google_pubsub_topic.revisions.name}"
    ]
    assert grants == [
        (
            "${google_pubsub_topic.revisions.name}",
            "roles/pubsub.publisher",
            "serviceAccount:${google_service_account.upload.email}",
        )
    ]
    # Nobody publishes to it through a project-wide grant.
    project_publishers = [
        b.body["member"]
        for b in tf.of_type("google_project_iam_member")
        if b.body["role"] == "roles/pubsub.publisher"
    ]
    assert "serviceAccount:${google_service_account.upload.email}" not in project_publishers


def test_the_review_function_is_the_process_code_under_the_process_account(
    tf: hcl.Config,
) -> None:
    body = _function(tf, REVIEW).body
    build = hcl.one(body, "build_config")
    assert build["entry_point"] == "process_revision"
    source = hcl.one(hcl.one(build, "source"), "storage_source")
    assert source["object"] == "${google_storage_bucket_object.process_source.name}"
    assert build["service_account"] == "${google_service_account.build.id}"
    service = hcl.one(body, "service_config")
    assert service["service_account_email"] == "${google_service_account.process.email}"
    assert service["ingress_settings"] == "ALLOW_INTERNAL_ONLY"
    assert service["max_instance_request_concurrency"] == 1
    env = _env(tf, REVIEW)
    assert env["LEASE_SECONDS"] == "${tostring(var.process_timeout_seconds + 60)}"
    # Its outcomes go to the outcome topic, as the process function's do.
    assert env["JOBS_TOPIC"] == _env(tf, "process")["JOBS_TOPIC"]
    config_source = (hcl.ROOT / "gazokako" / "config.py").read_text(encoding="utf-8")
    read_by_config = set(re.findall(r"\"([A-Z][A-Z0-9_]+)\"", config_source))
    assert set(env) - read_by_config <= {"LOG_EXECUTION_ID"}
    main = (hcl.ROOT / "functions" / "process" / "main.py").read_text(encoding="utf-8")
    assert re.search(r"^def process_revision\(", main, re.M)


def test_only_the_upload_api_invoker_is_public(tf: hcl.Config) -> None:
    public = []
    for block in tf.blocks:
        for path, leaf in hcl.walk(block.body):
            if any(member in str(leaf) for member in PUBLIC_MEMBERS):
                public.append(f"{block.address}.{path}")
    assert public == [f"{PUBLIC_EXCEPTION}.member"]
    grant = tf.get(*PUBLIC_EXCEPTION.split("."))
    assert grant.body["member"] == "allUsers"
    assert grant.body["role"] == "roles/run.invoker"
    assert grant.body["service"] == "${google_cloudfunctions2_function.upload.name}"


def test_no_primitive_roles(tf: hcl.Config) -> None:
    roles = [
        (block.address, leaf)
        for block in tf.blocks
        for path, leaf in hcl.walk(block.body)
        if path == "role" or path.startswith("role[") or path.endswith(".role")
    ]
    assert roles, "no IAM grant found: the walk is broken"
    assert not [r for r in roles if r[1] in PRIMITIVE_ROLES]


def test_runtime_accounts_get_no_admin_roles(tf: hcl.Config) -> None:
    for block in tf.blocks:
        member = str(block.body.get("member", ""))
        if any(f"google_service_account.{sa}.email" in member for sa in (*FUNCTIONS, "trigger")):
            assert "admin" not in str(block.body["role"]).lower(), block.address


def test_each_function_runs_as_its_own_account(tf: hcl.Config) -> None:
    accounts = {
        name: hcl.one(_function(tf, name).body, "service_config")["service_account_email"]
        for name in FUNCTIONS
    }
    assert accounts == {name: f"${{google_service_account.{name}.email}}" for name in FUNCTIONS}
    for name in ("process", "sweep"):
        trigger = hcl.one(_function(tf, name).body, "event_trigger")["service_account_email"]
        assert trigger == "${google_service_account.trigger.email}"
    builds = {hcl.one(_function(tf, n).body, "build_config")["service_account"] for n in FUNCTIONS}
    assert builds == {"${google_service_account.build.id}"}
    ids = [b.body["account_id"] for b in tf.of_type("google_service_account")]
    assert len(ids) == len(set(ids)) == 5


def test_the_upload_api_signs_as_itself(tf: hcl.Config) -> None:
    grants = [
        b
        for b in tf.of_type("google_service_account_iam_member")
        if b.body["role"] == "roles/iam.serviceAccountTokenCreator"
    ]
    assert len(grants) == 1
    assert grants[0].body["service_account_id"] == "${google_service_account.upload.name}"
    assert grants[0].body["member"] == "serviceAccount:${google_service_account.upload.email}"
    assert _env(tf, "upload")["SIGNER_SERVICE_ACCOUNT"] == "${google_service_account.upload.email}"


def _bucket_grants(tf: hcl.Config, account: str) -> dict[str, str]:
    return {
        str(b.body["bucket"]): str(b.body["role"])
        for b in tf.of_type("google_storage_bucket_iam_member")
        if b.body["member"] == f"serviceAccount:${{google_service_account.{account}.email}}"
    }


def test_bucket_access_follows_the_flow(tf: hcl.Config) -> None:
    uploads = "${google_storage_bucket.uploads.name}"
    results = "${google_storage_bucket.results.name}"
    assert _bucket_grants(tf, "upload") == {
        uploads: "roles/storage.objectUser",
        results: "roles/storage.objectUser",
    }
    assert _bucket_grants(tf, "process") == {
        uploads: "roles/storage.objectUser",
        results: "roles/storage.objectUser",
    }
    # The sweep deletes originals and nothing else: no results bucket.
    assert _bucket_grants(tf, "sweep") == {uploads: "roles/storage.objectUser"}
    assert _bucket_grants(tf, "trigger") == {}
    # Nobody gets storage on the whole project without a condition that excludes our buckets.
    for block in tf.of_type("google_project_iam_member"):
        if str(block.body["role"]).startswith("roles/storage."):
            expression = hcl.one(block.body, "condition")["expression"]
            assert "gcf-v2-" in expression, block.address


def test_the_trigger_may_invoke_only_the_event_functions(tf: hcl.Config) -> None:
    grants = [
        b
        for b in tf.of_type("google_cloud_run_service_iam_member")
        if "google_service_account.trigger" in str(b.body["member"])
    ]
    assert sorted(g.body["service"] for g in grants) == [
        "${google_cloudfunctions2_function.process.name}",
        "${google_cloudfunctions2_function.review.name}",
        "${google_cloudfunctions2_function.sweep.name}",
    ]
    assert {g.body["role"] for g in grants} == {"roles/run.invoker"}


def test_the_sweep_runs_on_a_schedule_through_its_own_topic(tf: hcl.Config) -> None:
    """Lifecycle rules count in days; the review window (minutes) ends by a scheduled sweep:
    Cloud Scheduler -> Pub/Sub topic -> Eventarc -> the sweep function (docs/DEPLOY.md)."""
    topic = "${google_pubsub_topic.sweep.id}"
    job = tf.get("google_cloud_scheduler_job", "sweep").body
    assert hcl.one(job, "pubsub_target")["topic_name"] == topic
    assert job["schedule"] == "${var.sweep_schedule}"
    assert tf.variables["sweep_schedule"]["default"] == "*/5 * * * *"
    trigger = hcl.one(_function(tf, "sweep").body, "event_trigger")
    assert trigger["event_type"] == "google.cloud.pubsub.topic.v1.messagePublished"
    assert trigger["pubsub_topic"] == topic
    # A failed run is not retried: the next tick comes within minutes.
    assert trigger["retry_policy"] == "RETRY_POLICY_DO_NOT_RETRY"
    service = hcl.one(_function(tf, "sweep").body, "service_config")
    assert service["ingress_settings"] == "ALLOW_INTERNAL_ONLY"
    assert service["max_instance_count"] == 1
    # The sweep follows the process function's DELETE_ORIGINALS, and the process function
    # keeps originals for the window the variable names.
    assert _env(tf, "sweep")["DELETE_ORIGINALS"] == _env(tf, "process")["DELETE_ORIGINALS"]
    window = _env(tf, "process")["REVIEW_WINDOW_SECONDS"]
    assert window == "${tostring(var.review_window_seconds)}"
    assert int(tf.variables["review_window_seconds"]["default"]) == 1800
    # The lifecycle rule on the uploads bucket stays as the backstop.
    assert "cloudscheduler.googleapis.com" in tf.locals["services"]


def test_the_outcome_topic_is_published_to_by_the_process_function_and_the_sweep_only(
    tf: hcl.Config,
) -> None:
    topic = tf.get("google_pubsub_topic", "jobs").body
    assert topic["name"] == "${var.name_prefix}-jobs"
    # The function is told the topic's id (Config.jobs_topic), and the output names it.
    assert _env(tf, "process")["JOBS_TOPIC"] == "${google_pubsub_topic.jobs.name}"
    assert "JOBS_TOPIC" not in _env(tf, "upload")
    assert tf.outputs["jobs_topic"]["value"] == "${google_pubsub_topic.jobs.name}"
    # Three Pub/Sub grants to runtime accounts: publish, on this topic, for the process account
    # (the process and process-revision functions) and for the sweep (the outcome of a revision
    # it fails), and on the revisions topic for the upload API
    # (test_the_review_trigger_is_the_revisions_topic_with_retries).
    assert _env(tf, "sweep")["JOBS_TOPIC"] == "${google_pubsub_topic.jobs.name}"
    grants = [
        b
        for b in tf.blocks
        if b.kind == "resource" and b.type.startswith("google_pubsub_")
        and b.type.endswith(("_iam_member", "_iam_binding", "_iam_policy"))
    ]  # fmt: skip
    assert [(b.type, b.body["topic"], b.body["role"], b.body["member"]) for b in grants] == [
        (
            "google_pubsub_topic_iam_member",
            "${google_pubsub_topic.jobs.name}",
            "roles/pubsub.publisher",
            "serviceAccount:${google_service_account.process.email}",
        ),
        (
            "google_pubsub_topic_iam_member",
            "${google_pubsub_topic.jobs.name}",
            "roles/pubsub.publisher",
            "serviceAccount:${google_service_account.sweep.email}",
        ),
        (
            "google_pubsub_topic_iam_member",
            "${google_pubsub_topic.revisions.name}",
            "roles/pubsub.publisher",
            "serviceAccount:${google_service_account.upload.email}",
        ),
    ]
    # No project-wide Pub/Sub role for either function (the storage agent's publish grant is
    # Eventarc's transport and goes to Google's own account).
    for block in tf.of_type("google_project_iam_member"):
        if str(block.body["role"]).startswith("roles/pubsub."):
            assert "google_service_account." not in str(block.body["member"]), block.address


@pytest.mark.parametrize("bucket", ["uploads", "results", "sources"])
def test_buckets_are_private(tf: hcl.Config, bucket: str) -> None:
    body = tf.get("google_storage_bucket", bucket).body
    assert body["uniform_bucket_level_access"] is True
    assert body["public_access_prevention"] == "enforced"


def test_buckets_expire_their_objects(tf: hcl.Config) -> None:
    def delete_age(bucket: str) -> object:
        rules = tf.get("google_storage_bucket", bucket).body["lifecycle_rule"]
        ages = [
            hcl.one(rule, "condition")["age"]
            for rule in rules
            if hcl.one(rule, "action")["type"] == "Delete"
        ]
        assert len(ages) == 1, bucket
        return ages[0]

    assert delete_age("uploads") == "${local.uploads_retention_days}"
    assert tf.locals["uploads_retention_days"] == "${ceil(var.uploads_retention_hours / 24)}"
    assert delete_age("results") == "${var.results_retention_days}"


def test_uploads_cors_allows_the_page_to_put(tf: hcl.Config) -> None:
    cors = hcl.one(tf.get("google_storage_bucket", "uploads").body, "cors")
    assert cors["origin"] == "${local.allowed_origins}"
    assert cors["method"] == ["PUT"]
    assert "x-goog-content-length-range" in cors["response_header"]
    # The API's CORS list and the bucket's are the same list.
    assert _env(tf, "upload")["ALLOWED_ORIGINS"] == '${join(",", local.allowed_origins)}'


def test_firestore_expires_jobs_and_drop_mappings(tf: hcl.Config) -> None:
    # Every collection the process function writes carries expires_at and has a TTL policy.
    for collection in ("jobs", "drops"):
        field = tf.get("google_firestore_field", f"{collection}_expires_at").body
        assert (field["collection"], field["field"]) == (collection, "expires_at")
        assert field["ttl_config"] == [{}]
    assert tf.get("google_firestore_database", "default").body["type"] == "FIRESTORE_NATIVE"


def test_entry_points_exist_in_the_function_sources(tf: hcl.Config) -> None:
    for name, entry in ENTRY_POINT.items():
        assert hcl.one(_function(tf, name).body, "build_config")["entry_point"] == entry
        folder = SOURCE_OF[name]
        source = (hcl.ROOT / "functions" / folder / "main.py").read_text(encoding="utf-8")
        assert re.search(rf"^def {entry}\(", source, re.M), f"{folder}/main.py lacks {entry}()"


def test_environment_names_are_the_ones_the_code_reads(tf: hcl.Config) -> None:
    config_source = (hcl.ROOT / "gazokako" / "config.py").read_text(encoding="utf-8")
    read_by_config = set(re.findall(r"\"([A-Z][A-Z0-9_]+)\"", config_source))
    # Read by functions-framework and its gunicorn, not by gazokako.
    read_by_framework = {"LOG_EXECUTION_ID", "THREADS", "FORWARDED_ALLOW_IPS"}
    for name in FUNCTIONS:
        env = _env(tf, name)
        unknown = set(env) - read_by_config - read_by_framework
        assert not unknown, f"{name} sets {unknown}, which gazokako/config.py never reads"
        assert {"PROJECT_ID", "UPLOADS_BUCKET", "RESULTS_BUCKET"} <= set(env)
    upload = _env(tf, "upload")
    assert {"ALLOWED_ORIGINS", "SIGNER_SERVICE_ACCOUNT"} <= set(upload)
    # gunicorn's thread count must follow the configured request concurrency.
    assert upload["THREADS"] == "${tostring(var.upload_concurrency)}"


def test_process_sizing_is_one_image_per_instance(tf: hcl.Config) -> None:
    service = hcl.one(_function(tf, "process").body, "service_config")
    assert service["max_instance_request_concurrency"] == 1
    assert service["ingress_settings"] == "ALLOW_INTERNAL_ONLY"
    assert service["available_memory"] == "${var.process_memory}"
    # A claim's lease must outlive one attempt, or a redelivery steals a running job.
    assert _env(tf, "process")["LEASE_SECONDS"] == "${tostring(var.process_timeout_seconds + 60)}"
    timeout = tf.variables["process_timeout_seconds"]
    assert int(timeout["default"]) <= 540


def test_sources_come_from_the_staged_zips(tf: hcl.Config) -> None:
    for name in FUNCTIONS:
        folder = SOURCE_OF[name]
        obj = tf.get("google_storage_bucket_object", f"{folder}_source").body
        assert obj["source"] == f"${{local.{folder}_zip}}"
        storage = hcl.one(
            hcl.one(hcl.one(_function(tf, name).body, "build_config"), "source"), "storage_source"
        )
        assert storage["object"] == f"${{google_storage_bucket_object.{folder}_source.name}}"
        assert tf.locals[f"{folder}_zip"] == f"${{path.module}}/../build/{folder}.zip"
        assert f"filemd5(local.{folder}_zip)" in obj["name"]


def test_every_checkov_skip_is_justified() -> None:
    skips = 0
    for path in sorted(hcl.INFRA.glob("*.tf")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if "checkov:skip" not in line:
                continue
            skips += 1
            assert re.fullmatch(r"\s*# checkov:skip=CKV\d?_[A-Z]+_\d+: \S.{30,}", line), (
                f"{path.name}:{number}: a skip needs its reason beside it"
            )
    assert skips > 0


def test_iam_grants_are_additive(tf: hcl.Config) -> None:
    # *_iam_binding and *_iam_policy are authoritative: applying one would silently remove
    # grants that other people or Google's service agents hold on the same resource.
    authoritative = [
        b.address for b in tf.blocks if b.type.endswith(("_iam_binding", "_iam_policy"))
    ]
    assert authoritative == []
    assert len([b for b in tf.blocks if b.type.endswith("_iam_member")]) >= 15


def test_every_bucket_turns_soft_delete_off(tf: hcl.Config) -> None:
    # Cloud Storage keeps a deleted object restorable for 7 days by default: without this a
    # photo deleted by the API, the function or a lifecycle rule lives on for a week.
    buckets = tf.of_type("google_storage_bucket")
    assert {b.name for b in buckets} >= {"uploads", "results", "sources"}
    for bucket in buckets:
        policy = hcl.one(bucket.body, "soft_delete_policy")
        assert policy == {"retention_duration_seconds": 0}, bucket.address


def test_versioning_skips_do_not_promise_what_soft_delete_would_break() -> None:
    # A skip that says deletion removes every copy is only true while soft delete is off.
    for line in (hcl.INFRA / "main.tf").read_text(encoding="utf-8").splitlines():
        if "checkov:skip=CKV_GCP_78" in line and ("originals" in line or "results" in line):
            assert "soft delete" in line, line


def test_uploads_cors_lets_the_page_send_the_single_use_precondition(tf: hcl.Config) -> None:
    # The upload API signs x-goog-if-generation-match: 0 into every PUT, so a second PUT with
    # the same URL is refused; a browser may only send that header if CORS allows it.
    cors = hcl.one(tf.get("google_storage_bucket", "uploads").body, "cors")
    allowed = {header.lower() for header in cors["response_header"]}
    assert "x-goog-if-generation-match" in allowed
    assert "content-type" in allowed


def test_the_upload_apis_request_logs_are_excluded(tf: hcl.Config) -> None:
    # Cloud Run's request log records the full URL, and /jobs/{id} carries a job's only key.
    exclusions = tf.of_type("google_logging_project_exclusion")
    assert [e.name for e in exclusions] == ["upload_api_requests"]
    body = exclusions[0].body
    assert body.get("disabled", False) is False
    flt = str(body["filter"]).replace('\\"', '"')
    assert 'log_id("run.googleapis.com/requests")' in flt
    assert 'resource.type = "cloud_run_revision"' in flt
    assert 'resource.labels.service_name = "${google_cloudfunctions2_function.upload.name}"' in flt
    # It names the upload API's service, and only that one: the process function's own logs
    # (and everyone else's request logs) still arrive.
    assert "google_cloudfunctions2_function.upload.name" in flt
    assert "google_cloudfunctions2_function.process" not in flt
    assert " OR " not in flt


def test_firestore_rules_are_released_and_deny_everything(tf: hcl.Config) -> None:
    ruleset = tf.get("google_firebaserules_ruleset", "firestore").body
    files = hcl.one(hcl.one(ruleset, "source"), "files")
    assert files["name"] == "firestore.rules"
    assert files["content"] == '${file("${path.module}/firestore.rules")}'
    release = tf.get("google_firebaserules_release", "firestore").body
    assert release["name"] == "cloud.firestore"
    assert "google_firebaserules_ruleset.firestore.name" in str(release["ruleset_name"])
    assert "firebaserules.googleapis.com" in tf.locals["services"]
    # The file itself: one match for every document, nothing allowed. (The emulator test in
    # test_deploy_rules.py shows the same file refusing real requests.)
    rules = (hcl.INFRA / "firestore.rules").read_text(encoding="utf-8")
    code = re.sub(r"//[^\n]*", "", rules)
    assert re.findall(r"allow\s+([^;]+);", code) == ["read, write: if false"]
    assert "match /{document=**}" in code
