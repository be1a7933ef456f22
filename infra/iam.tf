# One runtime identity per function, one for the trigger, one for the builds. Every grant is
# the narrowest role on the narrowest resource the code needs; none is primitive or public.
# The accounts are created by the one-time bootstrap (docs/DEPLOY.md, step 3) and adopted by
# imports.tf, so the deployer holds service-account rights on these four only. Each
# project-level role granted here must also be listed in the deployer's IAM condition there
# (tests/deploy/test_deploy_build.py checks it).

resource "google_service_account" "upload" {
  account_id   = "${var.name_prefix}-upload"
  display_name = "gazokako upload API (runtime)"
  description  = "Issues signed upload URLs, reads and deletes job documents and results."
}

resource "google_service_account" "process" {
  account_id   = "${var.name_prefix}-process"
  display_name = "gazokako process function (runtime)"
  description  = "Reads uploads, writes results and job documents."
}

resource "google_service_account" "trigger" {
  account_id   = "${var.name_prefix}-trigger"
  display_name = "gazokako Eventarc trigger"
  description  = "Delivers uploads-bucket finalize events and review revisions to the event functions."
}

resource "google_service_account" "build" {
  account_id   = "${var.name_prefix}-build"
  display_name = "gazokako function builds"
  description  = "Cloud Build identity that turns the staged sources into function images."
}

# --- upload API ---------------------------------------------------------------------------

# Signed URLs are signed through IAM signBlob as the function's own account: no key exists.
resource "google_service_account_iam_member" "upload_signs_as_itself" {
  service_account_id = google_service_account.upload.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = "serviceAccount:${google_service_account.upload.email}"
}

# A V4 signed PUT carries the signer's authority, so the signer must be able to create the
# object; DELETE /jobs/{id} removes the original too.
resource "google_storage_bucket_iam_member" "upload_uploads" {
  bucket = google_storage_bucket.uploads.name
  role   = "roles/storage.objectUser"
  member = "serviceAccount:${google_service_account.upload.email}"
}

# Signed GETs of results, and their deletion on DELETE /jobs/{id}.
resource "google_storage_bucket_iam_member" "upload_results" {
  bucket = google_storage_bucket.results.name
  role   = "roles/storage.objectUser"
  member = "serviceAccount:${google_service_account.upload.email}"
}

# Firestore grants exist only at project level; datastore.user is data access without admin.
resource "google_project_iam_member" "upload_firestore" {
  project = var.project_id
  role    = "roles/datastore.user"
  member  = "serviceAccount:${google_service_account.upload.email}"
}

# --- process function -----------------------------------------------------------------------

# Reads originals (and their metadata) and deletes them once processed.
resource "google_storage_bucket_iam_member" "process_uploads" {
  bucket = google_storage_bucket.uploads.name
  role   = "roles/storage.objectUser"
  member = "serviceAccount:${google_service_account.process.email}"
}

# Writes results under deterministic names; rewriting one on a redelivery needs delete too.
resource "google_storage_bucket_iam_member" "process_results" {
  bucket = google_storage_bucket.results.name
  role   = "roles/storage.objectUser"
  member = "serviceAccount:${google_service_account.process.email}"
}

resource "google_project_iam_member" "process_firestore" {
  project = var.project_id
  role    = "roles/datastore.user"
  member  = "serviceAccount:${google_service_account.process.email}"
}

# --- Eventarc trigger -------------------------------------------------------------------------

resource "google_project_iam_member" "trigger_receives_events" {
  project = var.project_id
  role    = "roles/eventarc.eventReceiver"
  member  = "serviceAccount:${google_service_account.trigger.email}"
}

# The trigger may invoke the two event functions and nothing else: the process function ...
resource "google_cloud_run_service_iam_member" "trigger_invokes_process" {
  project  = var.project_id
  location = google_cloudfunctions2_function.process.location
  service  = google_cloudfunctions2_function.process.name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.trigger.email}"
}

# ... and the process-revision function, fed by the revisions topic's trigger.
resource "google_cloud_run_service_iam_member" "trigger_invokes_review" {
  project  = var.project_id
  location = google_cloudfunctions2_function.review.location
  service  = google_cloudfunctions2_function.review.name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.trigger.email}"
}

# Cloud Storage publishes finalize notifications to Eventarc's Pub/Sub topic as its own
# service agent.
data "google_storage_project_service_account" "gcs" {
  depends_on = [google_project_service.enabled]
}

resource "google_project_iam_member" "gcs_publishes_events" {
  project = var.project_id
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${data.google_storage_project_service_account.gcs.email_address}"
}

# --- function builds ------------------------------------------------------------------------

resource "google_project_iam_member" "build_logs" {
  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = "serviceAccount:${google_service_account.build.email}"
}

resource "google_artifact_registry_repository_iam_member" "build_pushes_images" {
  project    = var.project_id
  location   = google_artifact_registry_repository.functions.location
  repository = google_artifact_registry_repository.functions.name
  role       = "roles/artifactregistry.writer"
  member     = "serviceAccount:${google_service_account.build.email}"
}

resource "google_storage_bucket_iam_member" "build_reads_sources" {
  bucket = google_storage_bucket.sources.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.build.email}"
}

# Cloud Functions copies each source into its own gcf-v2-sources-* bucket before the build;
# the condition keeps this grant away from the uploads and results buckets.
resource "google_project_iam_member" "build_reads_gcf_staging" {
  project = var.project_id
  role    = "roles/storage.objectViewer"
  member  = "serviceAccount:${google_service_account.build.email}"

  condition {
    title       = "gcf-staging-buckets-only"
    description = "Only the buckets Cloud Functions creates for its own source staging."
    expression  = "resource.name.startsWith(\"projects/_/buckets/gcf-v2-sources-\") || resource.name.startsWith(\"projects/_/buckets/gcf-v2-uploads-\")"
  }
}
