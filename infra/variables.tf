variable "project_id" {
  description = "Google Cloud project that holds everything."
  type        = string
}

variable "region" {
  description = "Region for the functions, the buckets and the Eventarc trigger (a single region keeps the trigger next to its bucket)."
  type        = string
  default     = "asia-northeast1"
}

variable "firestore_location" {
  description = "Firestore location; defaults to var.region."
  type        = string
  default     = null
}

variable "name_prefix" {
  description = "Prefix of every resource name; lowercase letters, digits and hyphens."
  type        = string
  default     = "gazokako"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,13}$", var.name_prefix))
    error_message = "name_prefix must be 3-14 characters of a-z, 0-9 and '-', starting with a letter (service account IDs are limited to 30 characters)."
  }
}

variable "extra_allowed_origins" {
  description = "Browser origins allowed besides the Firebase Hosting site, e.g. a custom domain (\"https://gazo.example.com\")."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for o in var.extra_allowed_origins : can(regex("^https://[^/*]+$", o))])
    error_message = "Each origin must be https://host with no path and no wildcard."
  }
}

variable "uploads_retention_hours" {
  description = "Originals are deleted this many hours after upload. Cloud Storage lifecycle works in whole days, so the rule rounds up to days; set delete_originals to drop them right after processing."
  type        = number
  default     = 24

  validation {
    condition     = var.uploads_retention_hours >= 1
    error_message = "uploads_retention_hours must be at least 1."
  }
}

variable "results_retention_days" {
  description = "Results are deleted this many days after they were written."
  type        = number
  default     = 7

  validation {
    condition     = var.results_retention_days >= 1
    error_message = "results_retention_days must be at least 1."
  }
}

variable "delete_originals" {
  description = "The process function deletes each original once its result is written (an API job's after its review window, see review_window_seconds)."
  type        = bool
  default     = true
}

variable "review_window_seconds" {
  description = "A done API job keeps its original this long, so a person can review the face boxes and have the photo rendered again from it; then the sweep deletes it. 0: no review, the original goes at once."
  type        = number
  default     = 1800

  validation {
    condition     = var.review_window_seconds >= 0 && var.review_window_seconds <= 86400
    error_message = "review_window_seconds must be between 0 and 86400 (the uploads lifecycle rule removes originals after days anyway)."
  }
}

variable "sweep_schedule" {
  description = "Cloud Scheduler cron (UTC) of the review sweep; the window's end is late by at most one period."
  type        = string
  default     = "*/5 * * * *"
}

variable "max_upload_bytes" {
  description = "Largest upload the signed URL accepts (x-goog-content-length-range)."
  type        = number
  default     = 20000000
}

variable "max_pixels" {
  description = "Largest image (width x height) the process function decodes; process_memory is sized for it."
  type        = number
  default     = 50000000
}

variable "default_ops" {
  description = "Operations applied to objects dropped into the uploads bucket without a job."
  type        = list(string)
  default     = ["mosaic_faces"]
}

variable "python_runtime" {
  description = "Cloud Functions runtime. The deploy smoke test and make test-imaging-312 run on this Python."
  type        = string
  default     = "python312"
}

# Sizes below come from measurements; docs/DEPLOY.md says how they were taken.
variable "upload_memory" {
  description = "Memory of the upload API."
  type        = string
  default     = "512Mi"
}

variable "upload_max_instances" {
  description = "Upper bound on upload API instances (a cost cap)."
  type        = number
  default     = 10
}

variable "upload_concurrency" {
  description = "Requests one upload API instance serves at once (it only waits on Firestore and IAM)."
  type        = number
  default     = 40
}

variable "process_memory" {
  description = "Memory of the process function. Measured peak: 530 MiB for a 48 MP photo with face redaction; headroom reasons in docs/DEPLOY.md."
  type        = string
  default     = "2Gi"
}

variable "process_cpu" {
  description = "vCPUs of the process function."
  type        = string
  default     = "1"
}

variable "process_timeout_seconds" {
  description = "Time limit of one processing attempt (Eventarc-triggered functions allow at most 540). A 48 MP photo with face redaction took 84 CPU-seconds on one vCPU (docs/DEPLOY.md)."
  type        = number
  default     = 300

  validation {
    condition     = var.process_timeout_seconds >= 30 && var.process_timeout_seconds <= 540
    error_message = "process_timeout_seconds must be between 30 and 540."
  }
}

variable "process_max_instances" {
  description = "Upper bound on process instances: the cost cap and the burst size (each handles one image at a time)."
  type        = number
  default     = 10
}

variable "force_destroy_buckets" {
  description = "Let terraform destroy delete buckets that still hold objects (for throwaway projects)."
  type        = bool
  default     = false
}

variable "labels" {
  description = "Labels added to every labelled resource."
  type        = map(string)
  default     = {}
}

variable "hosting_site_id" {
  description = "Firebase Hosting site ID (globally unique; the page is served at https://SITE.web.app). Defaults to PROJECT-PREFIX."
  type        = string
  default     = null
}

variable "public_api_iam" {
  description = "Make the upload API public with an allUsers run.invoker grant. Set false where an org policy forbids allUsers, then run `gcloud run services update NAME --no-invoker-iam-check` once (docs/DEPLOY.md)."
  type        = bool
  default     = true
}
