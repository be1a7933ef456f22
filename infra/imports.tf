# The five service accounts are created once by the project's owner (docs/DEPLOY.md, step 3),
# not by Terraform: only then can the deployer be given rights on exactly these accounts
# (acting as them, managing them) instead of on every service account in the project, which
# would include accounts far more powerful than itself. Terraform adopts them here and
# manages them from then on; for accounts already in the state these blocks do nothing.
import {
  to = google_service_account.upload
  id = "projects/${var.project_id}/serviceAccounts/${var.name_prefix}-upload@${var.project_id}.iam.gserviceaccount.com"
}

import {
  to = google_service_account.process
  id = "projects/${var.project_id}/serviceAccounts/${var.name_prefix}-process@${var.project_id}.iam.gserviceaccount.com"
}

import {
  to = google_service_account.trigger
  id = "projects/${var.project_id}/serviceAccounts/${var.name_prefix}-trigger@${var.project_id}.iam.gserviceaccount.com"
}

import {
  to = google_service_account.build
  id = "projects/${var.project_id}/serviceAccounts/${var.name_prefix}-build@${var.project_id}.iam.gserviceaccount.com"
}

import {
  to = google_service_account.sweep
  id = "projects/${var.project_id}/serviceAccounts/${var.name_prefix}-sweep@${var.project_id}.iam.gserviceaccount.com"
}
