# The review window's end (docs/JOBS.md, "Retention"): a done API job keeps its original for
# var.review_window_seconds so a person can have it rendered again, then it is deleted. Bucket
# lifecycle rules count in whole days, so a schedule does the minutes: Cloud Scheduler publishes
# a tick to a topic every few minutes, and an Eventarc Pub/Sub trigger runs the small `sweep`
# function (entry point sweep_reviews, deployed from the process function's zip), which deletes
# the originals whose window closed. The uploads lifecycle rule stays as the backstop (days).

resource "google_pubsub_topic" "sweep" {
  # checkov:skip=CKV_GCP_83: the topic carries only a scheduler tick with no data (the word "sweep"); a customer-managed key adds cost and a key to rotate for no secrecy gained.
  name   = "${var.name_prefix}-sweep"
  labels = local.labels
  # A tick that nobody took within a few periods is worth nothing: the next one comes anyway.
  message_retention_duration = "900s"

  depends_on = [google_project_service.enabled]
}

resource "google_cloud_scheduler_job" "sweep" {
  name        = "${var.name_prefix}-sweep"
  region      = var.region
  description = "Ticks the gazokako review sweep: originals whose review window closed are deleted."
  schedule    = var.sweep_schedule
  time_zone   = "Etc/UTC"

  # Published as Cloud Scheduler's own service agent (its roles/cloudscheduler.serviceAgent
  # includes publishing); the message carries nothing, the sweep reads the jobs.
  pubsub_target {
    topic_name = google_pubsub_topic.sweep.id
    data       = base64encode("sweep")
  }

  depends_on = [google_project_service.enabled]
}

resource "google_cloudfunctions2_function" "sweep" {
  name        = "${var.name_prefix}-sweep"
  location    = var.region
  description = "gazokako review sweep: deletes the originals whose review window closed."
  labels      = local.labels

  build_config {
    runtime           = var.python_runtime
    entry_point       = "sweep_reviews"
    service_account   = google_service_account.build.id
    docker_repository = google_artifact_registry_repository.functions.id
    # The process function's zip: the same code and lock, another entry point.
    source {
      storage_source {
        bucket = google_storage_bucket.sources.name
        object = google_storage_bucket_object.process_source.name
      }
    }
  }

  service_config {
    # The entry module imports the imaging core too (one zip), though a sweep decodes nothing.
    available_memory                 = "1Gi"
    available_cpu                    = "1"
    timeout_seconds                  = 240
    max_instance_request_concurrency = 1
    min_instance_count               = 0
    # One run at a time is plenty: a run handles the windows of a few minutes.
    max_instance_count = 1
    # Only Eventarc (Pub/Sub push inside the project) calls it.
    ingress_settings               = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision = true
    service_account_email          = google_service_account.sweep.email
    environment_variables = merge(local.common_env, {
      # The same setting as the process function: with it off the sweep closes the window and
      # leaves the original to the lifecycle rule.
      DELETE_ORIGINALS = tostring(var.delete_originals)
      # The outcome of a revision the sweep fails (abandoned) goes where every outcome goes.
      JOBS_TOPIC = google_pubsub_topic.jobs.name
    })
  }

  event_trigger {
    trigger_region = var.region
    event_type     = "google.cloud.pubsub.topic.v1.messagePublished"
    pubsub_topic   = google_pubsub_topic.sweep.id
    # A failed run is not retried: the next tick, minutes later, finds the same jobs.
    retry_policy          = "RETRY_POLICY_DO_NOT_RETRY"
    service_account_email = google_service_account.trigger.email
  }

  depends_on = [
    google_project_iam_member.build_logs,
    google_artifact_registry_repository_iam_member.build_pushes_images,
    google_storage_bucket_iam_member.build_reads_sources,
    google_project_iam_member.build_reads_gcf_staging,
    google_project_iam_member.trigger_receives_events,
    google_pubsub_topic_iam_member.sweep_publishes_outcomes,
  ]
}
