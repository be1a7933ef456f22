"""Per-client rate limiting for the upload API: a token bucket per client, per instance.

What it guarantees (docs/API.md says the same for users):
- Within one function instance, a client gets at most ``burst + rate * t`` requests of one kind
  (writes: POST /uploads; reads: GET and DELETE /jobs/{id}) in any interval of ``t`` seconds.
- Across instances it guarantees only ``instances x`` that, because every instance keeps its own
  buckets in memory. The platform's cap on instances (Terraform ``upload_max_instances``) bounds
  the total; a global limit needs a shared counter in front (Cloud Armor on a load balancer, or
  API Gateway quotas), which this code does not pretend to be.
- A client is an IP address taken from the request as configured (``trusted_proxy_hops``); an
  IPv6 client is its /64, because one host commonly owns the whole /64.

The table of buckets is bounded (least recently used clients are forgotten first), so a flood
of distinct addresses costs memory in proportion to the bound, not to the flood.
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

MAX_TRACKED_CLIENTS = 50_000


@dataclass
class _Bucket:
    tokens: float
    stamp: float


@dataclass(frozen=True)
class Decision:
    allowed: bool
    # Seconds until one more request would be admitted; 0 when allowed.
    retry_after: float


class TokenBucketLimiter:
    """``rate_per_minute`` sustained, ``burst`` at once; ``rate_per_minute == 0`` disables it."""

    def __init__(
        self,
        rate_per_minute: int,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = MAX_TRACKED_CLIENTS,
    ) -> None:
        self.rate = rate_per_minute / 60.0
        self.burst = float(max(burst, 1))
        self.enabled = rate_per_minute > 0
        self._clock = clock
        self._max_clients = max_clients
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    def check(self, client: str) -> Decision:
        if not self.enabled:
            return Decision(True, 0.0)
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(client)
            if bucket is None:
                bucket = _Bucket(self.burst, now)
                self._buckets[client] = bucket
                if len(self._buckets) > self._max_clients:
                    self._buckets.popitem(last=False)
            else:
                self._buckets.move_to_end(client)
                elapsed = max(0.0, now - bucket.stamp)
                bucket.tokens = min(self.burst, bucket.tokens + elapsed * self.rate)
                bucket.stamp = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return Decision(True, 0.0)
            return Decision(False, (1.0 - bucket.tokens) / self.rate)

    def __len__(self) -> int:
        return len(self._buckets)


def retry_after_header(seconds: float) -> str:
    """Whole seconds, rounded up, at least 1: what Retry-After allows."""
    return str(max(1, math.ceil(seconds)))


def client_key(remote_addr: str | None, forwarded_for: str | None, trusted_hops: int) -> str:
    """The address that identifies a client.

    With ``trusted_hops`` proxies in front (Cloud Run's front end appends exactly one entry, the
    address it saw), the client is the ``trusted_hops``-th entry from the right of
    X-Forwarded-For; entries further left were written by the client and are ignored, so a
    forged header cannot pick someone else's bucket. With no trusted proxy, the socket's peer.
    """
    candidate = remote_addr or ""
    if trusted_hops > 0 and forwarded_for:
        entries = [e.strip() for e in forwarded_for.split(",") if e.strip()]
        if len(entries) >= trusted_hops:
            candidate = entries[-trusted_hops]
    return _normalise(candidate)


def _normalise(address: str) -> str:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        # Not an address (a proxy wrote something odd): still one bucket per distinct value,
        # capped in length so the table's memory stays bounded.
        return "raw:" + address[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)
