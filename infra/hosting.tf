# The static page is served by Firebase Hosting rather than a bucket website behind a load
# balancer: Hosting serves a private upload of the files (no allUsers grant on any bucket),
# comes with TLS and a CDN, and costs nothing within its free quota, where a load balancer's
# forwarding rule alone is billed by the hour. Terraform creates the site; Cloud Build uploads
# the files (`firebase deploy --only hosting`, see cloudbuild.yaml).

resource "google_firebase_project" "this" {
  provider = google-beta
  project  = var.project_id

  depends_on = [google_project_service.enabled]
}

resource "google_firebase_hosting_site" "web" {
  provider = google-beta
  project  = var.project_id
  site_id  = local.hosting_site_id

  depends_on = [google_firebase_project.this]
}
