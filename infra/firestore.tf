# Job documents live in jobs/{id}; the TTL policy removes each one after its expires_at.
resource "google_firestore_database" "default" {
  name        = "(default)"
  location_id = coalesce(var.firestore_location, var.region)
  type        = "FIRESTORE_NATIVE"
  # Job records are short-lived and rebuilt from nothing; point-in-time recovery would only
  # keep deleted personal metadata around for seven more days.
  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_DISABLED"
  delete_protection_state           = "DELETE_PROTECTION_ENABLED"
  # A destroy leaves the database (and its data) in place instead of failing half-way.
  deletion_policy = "ABANDON"

  depends_on = [google_project_service.enabled]
}

resource "google_firestore_field" "jobs_expires_at" {
  project    = var.project_id
  database   = google_firestore_database.default.name
  collection = "jobs"
  field      = "expires_at"

  ttl_config {}

  # No single-field index: nothing queries by expiry, and an index on an ever-increasing
  # timestamp is a write hotspot.
  index_config {}
}

# drops/{key} maps a direct bucket drop (bucket, name, generation) to its job; it expires with it.
resource "google_firestore_field" "drops_expires_at" {
  project    = var.project_id
  database   = google_firestore_database.default.name
  collection = "drops"
  field      = "expires_at"

  ttl_config {}
  index_config {}
}
