terraform {
  required_version = ">= 1.6"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "8.7.0"
    }
    google-beta = {
      source  = "hashicorp/google-beta"
      version = "8.7.0"
    }
  }

  # State lives in a bucket made once by hand (docs/DEPLOY.md, step 2):
  #   terraform init -backend-config="bucket=PROJECT-tfstate"
  backend "gcs" {
    prefix = "gazokako"
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}

# Firebase Hosting resources exist only in the beta provider. The Firebase management API
# wants a quota project when Terraform runs with a person's credentials.
provider "google-beta" {
  project               = var.project_id
  region                = var.region
  user_project_override = true
  billing_project       = var.project_id
}
