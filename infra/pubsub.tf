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
