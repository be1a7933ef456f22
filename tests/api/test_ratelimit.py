"""The per-client rate limit: the bucket arithmetic, who counts as a client, and the 429 over
HTTP on an instance of its own with small limits and the production proxy setting."""

from __future__ import annotations

import math
from typing import Any

import pytest
import requests

from devstack.stack import Stack
from gazokako.ratelimit import TokenBucketLimiter, client_key, retry_after_header
from tests.api.conftest import LIMITED
from tests.api.instance import start_upload_function


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bucket_admits_burst_then_the_sustained_rate() -> None:
    clock = Clock()
    limiter = TokenBucketLimiter(60, 5, clock=clock)
    assert [limiter.check("a").allowed for _ in range(6)] == [True] * 5 + [False]
    refused = limiter.check("a")
    assert not refused.allowed and refused.retry_after == pytest.approx(1.0)
    clock.now += 1.0
    assert limiter.check("a").allowed
    assert not limiter.check("a").allowed
    # Another client has its own bucket.
    assert limiter.check("b").allowed


def test_bound_over_any_interval() -> None:
    """Hammering for t seconds admits at most burst + rate * t (the documented guarantee)."""
    clock = Clock()
    limiter = TokenBucketLimiter(120, 7, clock=clock)
    admitted = 0
    for _ in range(3000):  # 30 s of requests every 10 ms
        admitted += limiter.check("x").allowed
        clock.now += 0.01
    assert admitted <= 7 + 2 * 30 + 1
    assert admitted >= 2 * 30


def test_bucket_refills_only_to_the_burst() -> None:
    clock = Clock()
    limiter = TokenBucketLimiter(60, 3, clock=clock)
    limiter.check("a")
    clock.now += 3600
    assert [limiter.check("a").allowed for _ in range(4)] == [True, True, True, False]


def test_zero_rate_disables_and_table_is_bounded() -> None:
    assert all(TokenBucketLimiter(0, 1).check("a").allowed for _ in range(100))
    limiter = TokenBucketLimiter(60, 1, max_clients=10)
    for i in range(100):
        limiter.check(f"c{i}")
    assert len(limiter) == 10


def test_retry_after_is_whole_seconds_at_least_one() -> None:
    assert retry_after_header(0.01) == "1"
    assert retry_after_header(1.2) == "2"
    assert retry_after_header(30) == "30"


@pytest.mark.parametrize(
    ("remote", "xff", "hops", "expected"),
    [
        ("10.0.0.1", None, 0, "10.0.0.1"),
        ("10.0.0.1", "1.2.3.4", 0, "10.0.0.1"),
        ("169.254.1.1", "203.0.113.9", 1, "203.0.113.9"),
        # A forged entry on the left is ignored: only the proxy's own entry counts.
        ("169.254.1.1", "6.6.6.6, 203.0.113.9", 1, "203.0.113.9"),
        ("169.254.1.1", "6.6.6.6, 203.0.113.9, 130.211.0.1", 2, "203.0.113.9"),
        ("169.254.1.1", None, 1, "169.254.1.1"),
        ("169.254.1.1", "2001:db8:1:2:3:4:5:6", 1, "2001:db8:1:2::/64"),
        ("169.254.1.1", "2001:db8:1:2:ffff::1", 1, "2001:db8:1:2::/64"),
        ("::ffff:10.1.2.3", None, 0, "10.1.2.3"),
        ("169.254.1.1", "garbage", 1, "raw:garbage"),
    ],
)
def test_client_key(remote: str, xff: str | None, hops: int, expected: str) -> None:
    assert client_key(remote, xff, hops) == expected


def _post(url: str, client: str, **headers: str) -> requests.Response:
    return requests.post(
        f"{url}/uploads",
        json={"content_type": "image/jpeg", "size": 100},
        headers={"X-Forwarded-For": client, **headers},
        timeout=30,
    )


def test_429_over_http_per_client(limited_api: str, stack: dict[str, Any]) -> None:
    burst = int(LIMITED["RATE_LIMIT_BURST"])
    statuses = [_post(limited_api, "198.51.100.7").status_code for _ in range(burst)]
    assert statuses == [201] * burst
    origin = str(stack["web"]).rstrip("/")
    refused = _post(limited_api, "198.51.100.7", Origin=origin)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    per_second = int(LIMITED["RATE_LIMIT_PER_MINUTE"]) / 60
    assert 1 <= int(refused.headers["Retry-After"]) <= math.ceil(1 / per_second)
    assert refused.headers["Access-Control-Allow-Origin"] == origin
    assert "Retry-After" in refused.headers["Access-Control-Expose-Headers"]
    # Forging an address on the left does not buy a fresh bucket...
    assert _post(limited_api, "192.0.2.1, 198.51.100.7").status_code == 429
    # ...while a different client is unaffected.
    assert _post(limited_api, "198.51.100.8").status_code == 201


def test_reads_have_their_own_looser_bucket(limited_api: str) -> None:
    client = {"X-Forwarded-For": "198.51.100.20"}
    for _ in range(int(LIMITED["RATE_LIMIT_BURST"]) + 1):
        _post(limited_api, "198.51.100.20")
    assert _post(limited_api, "198.51.100.20").status_code == 429
    job_url = f"{limited_api}/jobs/{'A' * 32}"
    reads = [
        requests.get(job_url, headers=client, timeout=30).status_code
        for _ in range(int(LIMITED["RATE_LIMIT_READS_BURST"]))
    ]
    assert reads == [404] * len(reads)
    limited = requests.delete(job_url, headers=client, timeout=30)
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1


def test_status_url_uses_the_scheme_the_front_end_reports(limited_api: str) -> None:
    resp = _post(limited_api, "198.51.100.30", **{"X-Forwarded-Proto": "https"})
    assert resp.status_code == 201
    assert resp.json()["status_url"].startswith("https://127.0.0.1:")


def test_each_instance_counts_alone(limited_api: str, stack_handle: Stack) -> None:
    """The documented limit of the guarantee: buckets are per instance, so a client reaching
    two instances gets each one's burst (total bounded by the number of instances)."""
    burst = int(LIMITED["RATE_LIMIT_BURST"])
    client = "198.51.100.40"
    assert [_post(limited_api, client).status_code for _ in range(burst + 1)] == [201] * burst + [
        429
    ]
    proc, other = start_upload_function(stack_handle, "upload-limited-2", LIMITED, threads=2)
    try:
        statuses = [_post(other, client).status_code for _ in range(burst + 1)]
    finally:
        proc.stop()
    assert statuses == [201] * burst + [429]
