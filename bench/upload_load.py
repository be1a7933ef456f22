"""Latency of POST /uploads under concurrent clients, on the local stack (a script, not a test).

    .venv/bin/python bench/upload_load.py                 # starts its own stack, 50 clients
    .venv/bin/python bench/upload_load.py --clients 50 --requests 10 --threads 8

By default it starts a fresh local stack (emulators, local signing key) and one more upload
function instance on it configured as in production (rate limit 60/min with a burst of 10 per
client, TRUSTED_PROXY_HOPS=1), and gives each simulated client its own address through
X-Forwarded-For, so the per-client limiter runs as it would for 50 real people. Each client
sends its requests back to back (closed loop) over its own keep-alive connection. Every 201 is
checked (id, signed URL, headers) so a fast wrong answer cannot pass for a fast right one.
`--api URL` measures an already running API instead (e.g. the one `make dev` printed).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from devstack.stack import Stack  # noqa: E402
from tests.api.instance import start_upload_function  # noqa: E402

PRODUCTION_LIMITS = {
    "TRUSTED_PROXY_HOPS": "1",
    "RATE_LIMIT_PER_MINUTE": "60",
    "RATE_LIMIT_BURST": "10",
}


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of an ascending list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(q / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def run_client(
    api: str, index: int, count: int, start: threading.Barrier
) -> list[tuple[int, float]]:
    session = requests.Session()
    # Documentation addresses (RFC 5737), one per client.
    headers = {"X-Forwarded-For": f"198.51.100.{index + 1}"}
    body = {"filename": f"photo-{index}.jpg", "content_type": "image/jpeg", "size": 3_500_000}
    out: list[tuple[int, float]] = []
    start.wait()
    for _ in range(count):
        t0 = time.perf_counter()
        resp = session.post(f"{api}/uploads", json=body, headers=headers, timeout=60)
        elapsed = time.perf_counter() - t0
        if resp.status_code == 201:
            data = resp.json()
            assert len(data["id"]) == 32 and "X-Goog-Signature=" in data["upload"]["url"]
            assert data["upload"]["headers"]["x-goog-content-length-range"] == "3500000,3500000"
        out.append((resp.status_code, elapsed))
    session.close()
    return out


def measure(api: str, clients: int, per_client: int) -> dict[str, Any]:
    # Warm the instance (first Firestore and signer use) outside the measurement.
    for i in range(3):
        requests.post(
            f"{api}/uploads",
            json={"content_type": "image/png", "size": 10},
            headers={"X-Forwarded-For": f"192.0.2.{i + 1}"},
            timeout=60,
        )
    barrier = threading.Barrier(clients)
    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        futures = [pool.submit(run_client, api, i, per_client, barrier) for i in range(clients)]
        results = [r for f in futures for r in f.result()]
    wall = time.perf_counter() - t0
    ok = sorted(t for status, t in results if status == 201)
    return {
        "clients": clients,
        "requests": len(results),
        "statuses": dict(Counter(status for status, _ in results)),
        "wall_seconds": round(wall, 2),
        "throughput_rps": round(len(results) / wall, 1),
        "p50_ms": round(percentile(ok, 50) * 1000, 1),
        "p90_ms": round(percentile(ok, 90) * 1000, 1),
        "p99_ms": round(percentile(ok, 99) * 1000, 1),
        "max_ms": round(ok[-1] * 1000, 1) if ok else None,
        "mean_ms": round(statistics.fmean(ok) * 1000, 1) if ok else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=10, help="per client (burst is 10)")
    parser.add_argument("--threads", type=int, default=8, help="threads of the measured instance")
    parser.add_argument("--api", help="measure this running API instead of starting a stack")
    args = parser.parse_args()

    if args.api:
        report = measure(args.api.rstrip("/"), args.clients, args.requests)
        print(json.dumps({"api": args.api, **report}, indent=2))
        return 0

    with tempfile.TemporaryDirectory(prefix="gazokako-bench-") as tmp:
        stack = Stack(Path(tmp), env={})
        stack.start()
        try:
            proc, api = start_upload_function(
                stack, "upload-bench", PRODUCTION_LIMITS, threads=args.threads
            )
            try:
                report = measure(api, args.clients, args.requests)
            finally:
                proc.stop()
        finally:
            stack.stop()
    print(json.dumps({"threads": args.threads, **report}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
