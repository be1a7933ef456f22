# The one public grant in this configuration, and the only one the HCL tests allow: browsers
# call the upload API anonymously (a job's secret is its 128-bit random ID, and every object
# is reached only through short-lived signed URLs). The Cloud Functions API has no
# "invoker IAM check disabled" switch (terraform-provider-google #23360), so the grant is the
# documented way. An organization policy of domain-restricted sharing refuses allUsers: set
# public_api_iam = false there and disable the invoker check instead (docs/DEPLOY.md).
resource "google_cloud_run_service_iam_member" "upload_public_invoker" {
  count = var.public_api_iam ? 1 : 0
  # checkov:skip=CKV_GCP_102: the upload API is the product's public entry point by design; buckets, Firestore and the process function stay private.
  project  = var.project_id
  location = google_cloudfunctions2_function.upload.location
  service  = google_cloudfunctions2_function.upload.name
  role     = "roles/run.invoker"
  member   = "allUsers"
}
