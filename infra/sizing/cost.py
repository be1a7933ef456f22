"""Cost per 1,000 images from measured seconds and sizes, at list prices (see PRICES).

    .venv/bin/python infra/sizing/cost.py --cpu-seconds 30.5 --result-mb 2.94

Prices are Google Cloud's published list prices for a Tier 1 region such as asia-northeast1
(Cloud Run functions are billed as Cloud Run, request-based), before any free tier; check them
against the pricing calculator for your region. Every per-image count below is an assumption
stated next to it.
"""

from __future__ import annotations

import argparse
import sys

PRICES = {
    "vcpu_second": 0.000024,  # Cloud Run, request-based billing, Tier 1
    "gib_second": 0.0000025,
    "request": 0.40 / 1e6,
    "gcs_gib_month": 0.023,  # Standard storage, regional
    "gcs_class_a": 0.005 / 1e3,  # insert/write
    "gcs_class_b": 0.0004 / 1e3,  # get/metadata
    "egress_gib": 0.12,  # Premium tier internet egress, first TiB
    "fs_read": 0.038 / 1e5,  # Firestore Standard, asia-northeast1
    "fs_write": 0.115 / 1e5,
    "fs_delete": 0.0127 / 1e5,
}

# Per image, through the page: POST /uploads and about 4 GET /jobs/{id} status polls.
API_REQUESTS = 5
API_SECONDS_EACH = 0.2  # billed upper bound; concurrent requests share the instance
# Download the original + upload the result inside the region, the Firestore transaction and
# the final write, rounded up to Cloud Run's 100 ms billing granularity.
PROCESS_OVERHEAD_SECONDS = 0.5
FS_READS = 1 + 4  # claim transaction + status polls
FS_WRITES = 1 + 1 + 1  # create, claim, finish
GCS_CLASS_A = 2  # browser PUT, result write
GCS_CLASS_B = 3  # function GET, browser GET of the result, metadata read


def per_thousand(
    *,
    cpu_seconds: float,
    result_mb: float,
    process_gib: float,
    process_cpu: float,
    api_gib: float,
    retention_days: float,
) -> dict[str, float]:
    p = PRICES
    process_rate = process_cpu * p["vcpu_second"] + process_gib * p["gib_second"]
    api_rate = 1 * p["vcpu_second"] + api_gib * p["gib_second"]
    result_gib = result_mb * 1e6 / 2**30
    rows = {
        "process function (CPU + memory)": (cpu_seconds + PROCESS_OVERHEAD_SECONDS) * process_rate,
        "upload API (CPU + memory)": API_REQUESTS * API_SECONDS_EACH * api_rate,
        "requests (API + events)": (API_REQUESTS + 1) * p["request"],
        "Cloud Storage operations": GCS_CLASS_A * p["gcs_class_a"] + GCS_CLASS_B * p["gcs_class_b"],
        "Cloud Storage, results kept": result_gib * retention_days / 30 * p["gcs_gib_month"],
        "egress of results to browsers": result_gib * p["egress_gib"],
        "Firestore": FS_READS * p["fs_read"] + FS_WRITES * p["fs_write"] + p["fs_delete"],
    }
    return {k: v * 1000 for k, v in rows.items()}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cpu-seconds", type=float, required=True, help="per image, one vCPU")
    parser.add_argument("--result-mb", type=float, required=True)
    parser.add_argument("--process-gib", type=float, default=2.0)
    parser.add_argument("--process-cpu", type=float, default=1.0)
    parser.add_argument("--api-gib", type=float, default=0.5)
    parser.add_argument("--retention-days", type=float, default=7)
    args = parser.parse_args()
    rows = per_thousand(
        cpu_seconds=args.cpu_seconds,
        result_mb=args.result_mb,
        process_gib=args.process_gib,
        process_cpu=args.process_cpu,
        api_gib=args.api_gib,
        retention_days=args.retention_days,
    )
    for name, usd in rows.items():
        print(f"| {name} | ${usd:.3f} |")
    print(f"| **total per 1,000 images** | **${sum(rows.values()):.2f}** |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
