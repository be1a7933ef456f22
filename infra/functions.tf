# Both functions are built from the folders scripts/stage.py writes (run it before plan):
# build/upload.zip and build/process.zip. The object name carries the zip's MD5, so a code
# change uploads a new object and Terraform redeploys exactly the function that changed.
locals {
  upload_zip  = "${path.module}/../build/upload.zip"
  process_zip = "${path.module}/../build/process.zip"

  common_env = {
    PROJECT_ID       = var.project_id
    UPLOADS_BUCKET   = google_storage_bucket.uploads.name
    RESULTS_BUCKET   = google_storage_bucket.results.name
    MAX_UPLOAD_BYTES = tostring(var.max_upload_bytes)
    MAX_PIXELS       = tostring(var.max_pixels)
    DEFAULT_OPS      = join(",", var.default_ops)
    JOB_TTL_DAYS     = tostring(var.results_retention_days)
    # functions-framework tags each log line with its execution ID, to follow one event.
    LOG_EXECUTION_ID = "true"
  }
}

resource "google_storage_bucket_object" "upload_source" {
  name   = "upload-${filemd5(local.upload_zip)}.zip"
  bucket = google_storage_bucket.sources.name
  source = local.upload_zip
}

resource "google_storage_bucket_object" "process_source" {
  name   = "process-${filemd5(local.process_zip)}.zip"
  bucket = google_storage_bucket.sources.name
  source = local.process_zip
}

resource "google_cloudfunctions2_function" "upload" {
  # checkov:skip=CKV_GCP_124: browsers call this API directly, so its ingress must be public; it checks origins itself and hands out only scoped, short-lived signed URLs.
  name        = "${var.name_prefix}-upload-api"
  location    = var.region
  description = "gazokako upload API: signed upload URLs and job status."
  labels      = local.labels

  build_config {
    runtime           = var.python_runtime
    entry_point       = "upload_api"
    service_account   = google_service_account.build.id
    docker_repository = google_artifact_registry_repository.functions.id
    source {
      storage_source {
        bucket = google_storage_bucket.sources.name
        object = google_storage_bucket_object.upload_source.name
      }
    }
  }

  service_config {
    available_memory                 = var.upload_memory
    available_cpu                    = "1"
    timeout_seconds                  = 30
    min_instance_count               = 0
    max_instance_count               = var.upload_max_instances
    max_instance_request_concurrency = var.upload_concurrency
    # The page calls this API from browsers anywhere: it is the one public entry point.
    ingress_settings               = "ALLOW_ALL"
    all_traffic_on_latest_revision = true
    service_account_email          = google_service_account.upload.email
    environment_variables = merge(local.common_env, {
      ALLOWED_ORIGINS        = join(",", local.allowed_origins)
      SIGNER_SERVICE_ACCOUNT = google_service_account.upload.email
      # functions-framework runs gunicorn with 4 threads per CPU unless told otherwise, which
      # would cap the concurrency set above at 4.
      THREADS = tostring(var.upload_concurrency)
      # Only Google's front end reaches the container: trust its X-Forwarded-Proto, so the
      # status_url the API returns is https.
      FORWARDED_ALLOW_IPS = "*"
      # POST /jobs/{id}/revisions hands each revision to the process-revision function here.
      REVISIONS_TOPIC = google_pubsub_topic.revisions.name
    })
  }

  depends_on = [
    google_project_iam_member.build_logs,
    google_artifact_registry_repository_iam_member.build_pushes_images,
    google_storage_bucket_iam_member.build_reads_sources,
    google_project_iam_member.build_reads_gcf_staging,
  ]
}

resource "google_cloudfunctions2_function" "process" {
  name        = "${var.name_prefix}-process"
  location    = var.region
  description = "gazokako processing: one finalized upload in, one result and job record out."
  labels      = local.labels

  build_config {
    runtime           = var.python_runtime
    entry_point       = "process_upload"
    service_account   = google_service_account.build.id
    docker_repository = google_artifact_registry_repository.functions.id
    source {
      storage_source {
        bucket = google_storage_bucket.sources.name
        object = google_storage_bucket_object.process_source.name
      }
    }
  }

  service_config {
    available_memory = var.process_memory
    available_cpu    = var.process_cpu
    timeout_seconds  = var.process_timeout_seconds
    # Image work is CPU- and memory-bound: one event per instance keeps the memory budget
    # of a max_pixels image honest and scales out instead.
    max_instance_request_concurrency = 1
    min_instance_count               = 0
    max_instance_count               = var.process_max_instances
    # Only Eventarc (through Pub/Sub push inside the project) calls this function.
    ingress_settings               = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision = true
    service_account_email          = google_service_account.process.email
    environment_variables = merge(local.common_env, {
      DELETE_ORIGINALS = tostring(var.delete_originals)
      # An API job's original is kept this long after done for a review (infra/sweep.tf).
      REVIEW_WINDOW_SECONDS = tostring(var.review_window_seconds)
      # A claim outlives one attempt, so a redelivery never takes over a job still running.
      LEASE_SECONDS = tostring(var.process_timeout_seconds + 60)
      # One message per outcome goes here (pubsub.tf); the id, not the full path.
      JOBS_TOPIC = google_pubsub_topic.jobs.name
    })
  }

  event_trigger {
    trigger_region        = var.region
    event_type            = "google.cloud.storage.object.v1.finalized"
    retry_policy          = "RETRY_POLICY_RETRY"
    service_account_email = google_service_account.trigger.email
    # The uploads bucket only: a results-bucket trigger would process every result again.
    event_filters {
      attribute = "bucket"
      value     = google_storage_bucket.uploads.name
    }
  }

  depends_on = [
    google_project_iam_member.build_logs,
    google_artifact_registry_repository_iam_member.build_pushes_images,
    google_storage_bucket_iam_member.build_reads_sources,
    google_project_iam_member.build_reads_gcf_staging,
    google_project_iam_member.trigger_receives_events,
    google_project_iam_member.gcs_publishes_events,
    google_pubsub_topic_iam_member.process_publishes_outcomes,
  ]
}

# Review revisions: the second entry point of the process source folder (gen2 functions have one
# trigger each), fed by an Eventarc Pub/Sub trigger on the revisions topic (pubsub.tf). It runs
# as the process account: it reads the retained source, writes results and job documents.
resource "google_cloudfunctions2_function" "review" {
  name        = "${var.name_prefix}-process-revision"
  location    = var.region
  description = "gazokako review: one revision in, the result rendered again from its source."
  labels      = local.labels

  build_config {
    runtime           = var.python_runtime
    entry_point       = "process_revision"
    service_account   = google_service_account.build.id
    docker_repository = google_artifact_registry_repository.functions.id
    source {
      storage_source {
        bucket = google_storage_bucket.sources.name
        object = google_storage_bucket_object.process_source.name
      }
    }
  }

  service_config {
    available_memory                 = var.process_memory
    available_cpu                    = var.process_cpu
    timeout_seconds                  = var.process_timeout_seconds
    max_instance_request_concurrency = 1
    min_instance_count               = 0
    max_instance_count               = var.process_max_instances
    # Only Eventarc (through Pub/Sub push inside the project) calls this function.
    ingress_settings               = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision = true
    service_account_email          = google_service_account.process.email
    environment_variables = merge(local.common_env, {
      DELETE_ORIGINALS = tostring(var.delete_originals)
      # A claim outlives one attempt, so a redelivery never takes over a revision still running.
      LEASE_SECONDS = tostring(var.process_timeout_seconds + 60)
      # A revision's outcome goes to the outcome topic like any other (pubsub.tf).
      JOBS_TOPIC = google_pubsub_topic.jobs.name
    })
  }

  event_trigger {
    trigger_region        = var.region
    event_type            = "google.cloud.pubsub.topic.v1.messagePublished"
    pubsub_topic          = google_pubsub_topic.revisions.id
    retry_policy          = "RETRY_POLICY_RETRY"
    service_account_email = google_service_account.trigger.email
  }

  depends_on = [
    google_project_iam_member.build_logs,
    google_artifact_registry_repository_iam_member.build_pushes_images,
    google_storage_bucket_iam_member.build_reads_sources,
    google_project_iam_member.build_reads_gcf_staging,
    google_project_iam_member.trigger_receives_events,
    # It publishes each revision's outcome to JOBS_TOPIC from its first event on.
    google_pubsub_topic_iam_member.process_publishes_outcomes,
  ]
}
