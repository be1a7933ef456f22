# The outcome topic (docs/JOBS.md, "Outcome messages"): the process function publishes one
# message per terminal outcome of each generation; automation subscribes here instead of
# watching Firestore. Subscriptions are the consumers' own (and their own IAM).
resource "google_pubsub_topic" "jobs" {
  # checkov:skip=CKV_GCP_83: messages carry job ids and object names, never photos or URLs; Google-managed encryption covers them, a customer key would add a key to rotate for no secrecy gained.
  name   = "${var.name_prefix}-jobs"
  labels = local.labels
  # A consumer that is down for a while finds its messages in its subscription; the topic
  # itself keeps nothing.

  depends_on = [google_project_service.enabled]
}

# The process function may publish to this topic and do nothing else with Pub/Sub.
resource "google_pubsub_topic_iam_member" "process_publishes_outcomes" {
  project = var.project_id
  topic   = google_pubsub_topic.jobs.name
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${google_service_account.process.email}"
}

# The review sweep publishes the outcome of a revision it fails (abandoned: its message never
# came), which no other function would; that publish is all it may do with Pub/Sub.
resource "google_pubsub_topic_iam_member" "sweep_publishes_outcomes" {
  project = var.project_id
  topic   = google_pubsub_topic.jobs.name
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${google_service_account.sweep.email}"
}

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
