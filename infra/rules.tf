# Firestore's client API (the one Firebase web and mobile SDKs use) is reachable by anyone who
# knows the project ID; security rules are all that guard it. firestore.rules denies every
# client read and write; the functions' service accounts use the server API, which rules do
# not apply to. Releasing it from here means a new project is never left on the defaults.
resource "google_firebaserules_ruleset" "firestore" {
  project = var.project_id

  source {
    files {
      name    = "firestore.rules"
      content = file("${path.module}/firestore.rules")
    }
  }

  depends_on = [google_project_service.enabled, google_firestore_database.default]
}

# The name cloud.firestore is what makes this the (default) database's live ruleset.
resource "google_firebaserules_release" "firestore" {
  project      = var.project_id
  name         = "cloud.firestore"
  ruleset_name = "projects/${var.project_id}/rulesets/${google_firebaserules_ruleset.firestore.name}"

  # A release points at one ruleset; a changed file makes a new ruleset, and the release must
  # move to it (it cannot be updated in place by the API).
  lifecycle {
    replace_triggered_by = [google_firebaserules_ruleset.firestore]
  }
}
