"""HTTP edge of the upload API: routing, CORS, rate limits, body parsing, errors as JSON.

Every answer is JSON (or an empty 204); every failure is `{"error": {"code", "message"}}` with
the status of its `GazokakoError`. No client input can reach a 500: parsing, validation and
routing problems are mapped before any service call, and anything unexpected is logged with its
stack trace and answered with a bare `internal` error.
"""

from __future__ import annotations

import json
import re
import time
import traceback
from dataclasses import dataclass
from typing import Any

import flask

from gazokako.errors import (
    GazokakoError,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    UnsupportedMediaType,
)
from gazokako.logs import log_event
from gazokako.ratelimit import TokenBucketLimiter, client_key, retry_after_header
from gazokako.review import MAX_BODY_BYTES as REVISION_BODY_BYTES
from gazokako.uploads import NOT_FOUND_MESSAGE, UploadService

UPLOADS_METHODS = "POST, OPTIONS"
JOB_METHODS = "GET, DELETE, OPTIONS"
REVISION_METHODS = "POST, OPTIONS"
ALLOWED_REQUEST_HEADERS = "Content-Type"
EXPOSED_HEADERS = "Retry-After"
MAX_BODY_BYTES = 16_384
# Every 503 says this and no more; the cause is logged as `api.error`'s `detail`.
UNAVAILABLE_MESSAGE = "the service is briefly unavailable; retry in a few seconds"
_JSON_MEDIA = re.compile(r"^application/(?:[\w.+-]+\+)?json$")


class Api:
    """One per function instance: the service plus the instance's rate-limit buckets."""

    def __init__(self, service: UploadService) -> None:
        self.service = service
        config = service.config
        self.writes = TokenBucketLimiter(config.rate_limit_per_minute, config.rate_limit_burst)
        self.reads = TokenBucketLimiter(
            config.rate_limit_reads_per_minute, config.rate_limit_reads_burst
        )

    # -- helpers ---------------------------------------------------------------------------
    def _cors_headers(self, request: flask.Request) -> dict[str, str]:
        # Vary on every answer, allowed or not, so no cache serves one origin's answer to another.
        headers = {"Vary": "Origin"}
        origin = request.headers.get("Origin")
        if origin and origin in self.service.config.allowed_origins:
            headers.update(
                {
                    "Access-Control-Allow-Origin": origin,
                    "Access-Control-Expose-Headers": EXPOSED_HEADERS,
                }
            )
        return headers

    def _preflight(self, request: flask.Request, allow: str) -> flask.Response:
        headers = self._cors_headers(request)
        headers["Allow"] = allow
        if "Access-Control-Allow-Origin" in headers:
            headers.update(
                {
                    "Access-Control-Allow-Methods": allow,
                    "Access-Control-Allow-Headers": ALLOWED_REQUEST_HEADERS,
                    "Access-Control-Max-Age": "600",
                }
            )
        return flask.Response(status=204, headers=headers)

    def _client(self, request: flask.Request) -> str:
        return client_key(
            request.remote_addr,
            request.headers.get("X-Forwarded-For"),
            self.service.config.trusted_proxy_hops,
        )

    def _base_url(self, request: flask.Request) -> str:
        base = request.host_url
        # Behind Cloud Run's front end the socket is plain HTTP; the client used the scheme
        # the front end reports, and only a trusted proxy's word counts.
        if self.service.config.trusted_proxy_hops > 0:
            proto = request.headers.get("X-Forwarded-Proto", "").split(",")[-1].strip().lower()
            if proto in ("http", "https"):
                base = re.sub(r"^https?://", f"{proto}://", base)
        return base

    def _limit(self, limiter: TokenBucketLimiter, client: str) -> None:
        decision = limiter.check(client)
        if not decision.allowed:
            raise RateLimitedAfter(decision.retry_after)

    # -- routing ---------------------------------------------------------------------------
    def _route(self, request: flask.Request, route: Route | None) -> tuple[int, Any]:
        method = request.method
        if route is None:
            raise NotFound(NOT_FOUND_MESSAGE)
        if route.job_id is None:
            if method != "POST":
                raise MethodNotAllowedFor(route.allow, "use POST /uploads")
            self._limit(self.writes, self._client(request))
            body = _json_body(request)
            return 201, self.service.issue_upload_url(body, base_url=self._base_url(request))
        if route.revisions:
            if method != "POST":
                raise MethodNotAllowedFor(route.allow, "use POST /jobs/{id}/revisions")
            self._limit(self.writes, self._client(request))
            body = _json_body(request, REVISION_BODY_BYTES)
            return 202, self.service.request_revision(route.job_id, body)
        if method == "GET":
            self._limit(self.reads, self._client(request))
            return 200, self.service.describe_job(route.job_id)
        if method == "DELETE":
            self._limit(self.reads, self._client(request))
            self.service.delete_job(route.job_id)
            return 204, None
        raise MethodNotAllowedFor(route.allow, "use GET or DELETE /jobs/{id}")

    def respond(self, request: flask.Request) -> flask.Response:
        started = time.perf_counter()
        route = match_route(request.path)
        if request.method == "OPTIONS" and route is not None:
            return self._preflight(request, route.allow)
        headers = self._cors_headers(request)
        try:
            status, body = self._route(request, route)
        except GazokakoError as exc:
            status, body = exc.http_status, exc.to_json()
            detail: str | None = None
            if status >= 500:
                # The platform's own words (hosts, paths, object names) are for the log only,
                # and even there pass `redact` (see logs.py); the client learns it may retry.
                body = {"error": {"code": exc.code, "message": UNAVAILABLE_MESSAGE}}
                detail = exc.message
            if isinstance(exc, MethodNotAllowedFor):
                headers["Allow"] = exc.allow
            if isinstance(exc, RateLimitedAfter):
                headers["Retry-After"] = retry_after_header(exc.retry_after)
            log_event(
                "api.error",
                severity="WARNING" if status < 500 else "ERROR",
                code=exc.code,
                status=status,
                method=request.method,
                route=_route_name(request.path),
                detail=detail,
            )
        except Exception:  # never leak a stack trace to the client; log it instead
            log_event(
                "api.crash",
                severity="ERROR",
                method=request.method,
                route=_route_name(request.path),
                stack_trace=traceback.format_exc(),
            )
            status = 500
            body = {"error": {"code": "internal", "message": "internal error"}}
        if status < 400:
            log_event(
                "api.request",
                method=request.method,
                status=status,
                route=_route_name(request.path),
                latency_ms=round((time.perf_counter() - started) * 1000, 1),
            )
        # Job answers carry short-lived signed URLs: no cache may keep them.
        headers["Cache-Control"] = "no-store"
        if body is None:
            return flask.Response(status=status, headers=headers)
        return flask.Response(
            json.dumps(body), status=status, mimetype="application/json", headers=headers
        )


class MethodNotAllowedFor(MethodNotAllowed):
    def __init__(self, allow: str, message: str) -> None:
        super().__init__(message)
        self.allow = allow


class RateLimitedAfter(RateLimited):
    def __init__(self, retry_after: float) -> None:
        super().__init__("too many requests from this client; retry later")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Route:
    """A path the API serves: the methods it allows, and the job it names (None: /uploads)."""

    allow: str
    job_id: str | None = None
    # /jobs/{id}/revisions: a review revision of the job.
    revisions: bool = False


def match_route(path: str) -> Route | None:
    """The one place a path is matched: routing, CORS preflights and 405s all ask here."""
    parts = path.split("/")[1:]
    if parts in (["uploads"], ["uploads", ""]):
        return Route(UPLOADS_METHODS)
    if len(parts) == 2 and parts[0] == "jobs":
        return Route(JOB_METHODS, parts[1])
    if len(parts) == 3 and parts[0] == "jobs" and parts[2] == "revisions":
        return Route(REVISION_METHODS, parts[1], revisions=True)
    return None


def _route_name(path: str) -> str:
    # Logs name the route, never the job id: an id is the capability to read a result.
    if path.startswith("/jobs/"):
        return "/jobs/{id}/revisions" if path.endswith("/revisions") else "/jobs/{id}"
    return path[:40]


def _json_body(request: flask.Request, limit: int = MAX_BODY_BYTES) -> dict[str, Any]:
    media = (request.mimetype or "").lower()
    if not _JSON_MEDIA.fullmatch(media):
        raise UnsupportedMediaType("send the request body as application/json")
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"request body larger than {limit} bytes")
    # Read at most one byte past the limit: a chunked body of unknown length cannot make the
    # instance buffer more than that.
    raw = request.stream.read(limit + 1)
    if len(raw) > limit:
        raise PayloadTooLarge(f"request body larger than {limit} bytes")
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        # ValueError covers bad UTF-8 and integers too long to convert; RecursionError is what
        # a body of thousands of nested brackets raises.
        raise InvalidRequest("body must be a JSON object") from exc
    if not isinstance(body, dict):
        raise InvalidRequest("body must be a JSON object")
    return body
