# Review revisions (docs/JOBS.md, "Review revisions"): the upload function publishes
# {"id", "revision"} here for each POST /jobs/{id}/revisions, and an Eventarc Pub/Sub trigger
# delivers each message to the process-revision function (functions.tf), with retries.
resource "google_pubsub_topic" "revisions" {
  # checkov:skip=CKV_GCP_83: a message holds only a job id and a revision number for minutes; Google-managed encryption covers it, and a customer key adds a key to rotate for nothing.
  name   = "${var.name_prefix}-revisions"
  labels = local.labels
  # A message nobody could deliver within a day is stale: the person has moved on, and the job
  # still shows the previous result.
  message_retention_duration = "86400s"

  depends_on = [google_project_service.enabled]
}

# The upload function may publish to this topic and to no other; nobody else may.
resource "google_pubsub_topic_iam_member" "upload_publishes_revisions" {
  project = var.project_id
  topic   = google_pubsub_topic.revisions.name
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${google_service_account.upload.email}"
}
