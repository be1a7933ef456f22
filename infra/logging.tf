# Cloud Run writes one request log entry per HTTP request, and it records the full URL. The
# upload API's status URL is /jobs/{id}, and a job's id is the only key to its photo: kept in
# the request log, it would let anyone who can read logs fetch (or delete) every recent photo
# for the log's 30-day retention. The API's request logs are therefore dropped before they are
# stored. What the function itself logs (named JSON events, no ids) still arrives, and so do
# the process function's logs; the platform's request metrics are unaffected.
resource "google_logging_project_exclusion" "upload_api_requests" {
  name        = "${var.name_prefix}-upload-api-requests"
  description = "Request logs of the gazokako upload API: their URLs carry job ids (docs/DEPLOY.md)."
  filter      = "log_id(\"run.googleapis.com/requests\") AND resource.type = \"cloud_run_revision\" AND resource.labels.service_name = \"${google_cloudfunctions2_function.upload.name}\""

  depends_on = [google_project_service.enabled]
}
