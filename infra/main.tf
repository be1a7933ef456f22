locals {
  services = toset([
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "eventarc.googleapis.com",
    "firebase.googleapis.com",
    "firebaserules.googleapis.com", # Firestore security rules (rules.tf)
    "firebasehosting.googleapis.com",
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "iamcredentials.googleapis.com", # signBlob: keyless V4 signed URLs
    "logging.googleapis.com",
    "pubsub.googleapis.com", # Eventarc's transport for storage events; the outcome topic
    "run.googleapis.com",
    "storage.googleapis.com",
  ])

  labels = merge({ app = var.name_prefix }, var.labels)

  hosting_site_id = coalesce(var.hosting_site_id, "${var.project_id}-${var.name_prefix}")
  # The page is served from both Firebase Hosting domains; anything else must be listed.
  allowed_origins = concat(
    ["https://${local.hosting_site_id}.web.app", "https://${local.hosting_site_id}.firebaseapp.com"],
    var.extra_allowed_origins,
  )

  # Lifecycle ages are whole days: round the retention in hours up.
  uploads_retention_days = ceil(var.uploads_retention_hours / 24)
}

resource "google_project_service" "enabled" {
  for_each = local.services
  service  = each.value
  # Turning an API off on destroy would break anything else in the project that uses it.
  disable_on_destroy = false
}

# Originals land here through V4 signed PUT URLs; this bucket alone triggers processing.
resource "google_storage_bucket" "uploads" {
  # checkov:skip=CKV_GCP_62: access logs would copy every object name into a second, longer-lived bucket; Cloud Audit Logs cover access when needed.
  # checkov:skip=CKV_GCP_78: versioning would keep noncurrent copies of deleted originals; with soft delete also off (soft_delete_policy below) a deleted original is gone at once.
  name                        = "${var.project_id}-${var.name_prefix}-uploads"
  location                    = var.region
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.force_destroy_buckets
  labels                      = local.labels

  # Cloud Storage keeps every deleted object restorable for 7 days unless told otherwise: a
  # photo deleted by DELETE /jobs/{id}, by the function or by a lifecycle rule would survive
  # (and be billed) for a week. Zero turns soft delete off: deleted means gone.
  soft_delete_policy {
    retention_duration_seconds = 0
  }

  # The browser PUTs the file straight to Cloud Storage from the page's origin.
  cors {
    origin = local.allowed_origins
    method = ["PUT"]
    # The upload API signs x-goog-if-generation-match: 0 into every PUT (a signed URL then
    # creates the object once and can never overwrite it); the browser must be allowed to send it.
    response_header = ["Content-Type", "x-goog-content-length-range", "x-goog-if-generation-match"]
    max_age_seconds = 3600
  }

  lifecycle_rule {
    condition {
      age = local.uploads_retention_days
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      age = 1
    }
    action {
      type = "AbortIncompleteMultipartUpload"
    }
  }

  depends_on = [google_project_service.enabled]
}

# Results are written here and read only through short-lived signed GET URLs. It must never
# be a trigger source (a result would be processed again, forever).
resource "google_storage_bucket" "results" {
  # checkov:skip=CKV_GCP_62: access logs would copy every object name into a second, longer-lived bucket; Cloud Audit Logs cover access when needed.
  # checkov:skip=CKV_GCP_78: versioning would keep noncurrent copies of expired results; with soft delete also off (soft_delete_policy below) a deleted result is gone at once.
  name                        = "${var.project_id}-${var.name_prefix}-results"
  location                    = var.region
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.force_destroy_buckets
  labels                      = local.labels

  # Cloud Storage keeps every deleted object restorable for 7 days unless told otherwise: a
  # photo deleted by DELETE /jobs/{id}, by the function or by a lifecycle rule would survive
  # (and be billed) for a week. Zero turns soft delete off: deleted means gone.
  soft_delete_policy {
    retention_duration_seconds = 0
  }

  # The page fetches the result (to offer a download) from its own origin.
  cors {
    origin          = local.allowed_origins
    method          = ["GET", "HEAD"]
    response_header = ["Content-Type", "Content-Length"]
    max_age_seconds = 3600
  }

  lifecycle_rule {
    condition {
      age = var.results_retention_days
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.enabled]
}

# Zipped staged sources (build/<name>.zip) that Cloud Functions builds from.
resource "google_storage_bucket" "sources" {
  # checkov:skip=CKV_GCP_62: holds only the project's own code zips; access logs add nothing.
  # checkov:skip=CKV_GCP_78: objects are named by content hash and never overwritten, so versions would never differ.
  name                        = "${var.project_id}-${var.name_prefix}-sources"
  location                    = var.region
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true
  labels                      = local.labels

  # Old code zips need no 7-day restorable copies either (see the uploads bucket).
  soft_delete_policy {
    retention_duration_seconds = 0
  }

  depends_on = [google_project_service.enabled]
}

# Function images; a repository of our own lets the build account write here and nowhere else.
resource "google_artifact_registry_repository" "functions" {
  # checkov:skip=CKV_GCP_84: images hold only the public code of this repository; a customer-managed key adds cost and a key to rotate for no secrecy gained.
  location      = var.region
  repository_id = "${var.name_prefix}-functions"
  format        = "DOCKER"
  description   = "Images Cloud Functions builds for gazokako."
  labels        = local.labels

  cleanup_policy_dry_run = false
  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = 5
    }
  }
  cleanup_policies {
    id     = "delete-old"
    action = "DELETE"
    condition {
      older_than = "2592000s" # 30 days
    }
  }

  depends_on = [google_project_service.enabled]
}
