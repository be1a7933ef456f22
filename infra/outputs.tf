output "api_url" {
  description = "Base URL of the upload API (goes into web/config.json as api_base)."
  value       = google_cloudfunctions2_function.upload.service_config[0].uri
}

output "max_upload_bytes" {
  description = "Largest upload the API signs for (goes into web/config.json as max_bytes)."
  value       = var.max_upload_bytes
}

output "web_url" {
  description = "Where the page is served."
  value       = "https://${google_firebase_hosting_site.web.site_id}.web.app"
}

output "hosting_site_id" {
  description = "Firebase Hosting site the page is deployed to."
  value       = google_firebase_hosting_site.web.site_id
}

output "uploads_bucket" {
  description = "Originals land here (and only this bucket triggers processing)."
  value       = google_storage_bucket.uploads.name
}

output "results_bucket" {
  description = "Processed images are written here."
  value       = google_storage_bucket.results.name
}

output "process_function" {
  description = "Name of the process function (for logs: gcloud functions logs read NAME)."
  value       = google_cloudfunctions2_function.process.name
}

output "allowed_origins" {
  description = "Origins the API and the uploads bucket accept from browsers."
  value       = local.allowed_origins
}

output "review_function" {
  description = "Name of the process-revision function, which renders review revisions."
  value       = google_cloudfunctions2_function.review.name
}

output "revisions_topic" {
  description = "The Pub/Sub topic the upload API hands review revisions to."
  value       = google_pubsub_topic.revisions.name
}
