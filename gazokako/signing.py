"""V4 signed URLs, keyless in production.

Production signs through IAM `signBlob` as the function's own runtime service account: the
client library is given the account's email and a fresh access token instead of a private key,
so no key exists anywhere. Locally the dev stack makes a throwaway key under `.local/`.
"""

from __future__ import annotations

import datetime as dt
import threading
import urllib.parse
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import google.auth
import google.auth.exceptions
import google.auth.transport.requests
from google.cloud import storage  # type: ignore[attr-defined]
from google.oauth2 import service_account

from gazokako.config import MAX_URL_TTL_SECONDS, Config
from gazokako.errors import TransientError, failure_summary

_SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)


@dataclass(frozen=True)
class SignedRequest:
    url: str
    method: str
    headers: Mapping[str, str]
    expires_at: dt.datetime


#: Signed GETs kept per instance. A page polls a finished job every second or two, and each
#: answer would otherwise cost one IAM signBlob call (latency and quota).
GET_CACHE_SIZE = 1024


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UrlSigner:
    """Signs URLs for objects; holds whichever credentials the configuration calls for."""

    def __init__(
        self,
        config: Config,
        *,
        token_credentials: Any = None,
        clock: Callable[[], dt.datetime] = _utcnow,
    ) -> None:
        """`token_credentials` replaces Application Default Credentials for the keyless path."""
        self._config = config
        self._lock = threading.Lock()
        self._key_credentials: service_account.Credentials | None = None
        self._token_credentials: Any = token_credentials
        self._clock = clock
        self._gets: OrderedDict[tuple[str, str], SignedRequest] = OrderedDict()

    def _signing_kwargs(self) -> dict[str, Any]:
        with self._lock:
            if self._config.local_signing_key_file:
                if self._key_credentials is None:
                    key_file = self._config.local_signing_key_file
                    self._key_credentials = service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
                        key_file
                    )
                return {"credentials": self._key_credentials}
            if not self._config.signer_service_account:
                raise RuntimeError("no signer configured: set SIGNER_SERVICE_ACCOUNT")
            if self._token_credentials is None:
                self._token_credentials, _ = google.auth.default(scopes=_SCOPES)
            if not self._token_credentials.valid:
                self._token_credentials.refresh(google.auth.transport.requests.Request())
            return {
                "service_account_email": self._config.signer_service_account,
                "access_token": self._token_credentials.token,
            }

    def sign(
        self,
        blob: storage.Blob,
        *,
        method: str,
        content_type: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> SignedRequest:
        """A V4 URL for one request; `headers` of the result are exactly those it must carry.

        Every header named here is a signed header, so storage refuses a request that omits or
        changes one of them (in production; the local emulator does not check signatures).
        """
        ttl = min(self._config.url_ttl_seconds, MAX_URL_TTL_SECONDS)
        cacheable = method == "GET" and not headers and content_type is None
        key = (blob.bucket.name, blob.name)
        if cacheable:
            cached = self._cached_get(key, ttl)
            if cached is not None:
                return cached
        try:
            url = blob.generate_signed_url(
                version="v4",
                expiration=dt.timedelta(seconds=ttl),
                method=method,
                content_type=content_type,
                headers=dict(headers or {}),
                api_access_endpoint=self._config.storage_public_url,
                **self._signing_kwargs(),
            )
        except google.auth.exceptions.TransportError as exc:
            # IAM signBlob (or the token refresh before it) failed: the platform's fault, and
            # the client's retry may well succeed.
            raise TransientError(f"could not sign the URL: {failure_summary(exc)}") from exc
        sent_headers = dict(headers or {})
        if content_type:
            sent_headers["Content-Type"] = content_type
        signed = SignedRequest(
            url=url, method=method, headers=sent_headers, expires_at=url_expiry(url)
        )
        if cacheable:
            with self._lock:
                self._gets[key] = signed
                while len(self._gets) > GET_CACHE_SIZE:
                    self._gets.popitem(last=False)
        return signed

    def _cached_get(self, key: tuple[str, str], ttl: int) -> SignedRequest | None:
        """A GET signed earlier that still has at least half its lifetime left, so a caller
        always gets a link that works for ttl/2 or more."""
        with self._lock:
            signed = self._gets.get(key)
            if signed is None:
                return None
            if signed.expires_at - self._clock() < dt.timedelta(seconds=ttl / 2):
                del self._gets[key]
                return None
            self._gets.move_to_end(key)
            return signed


def url_expiry(url: str) -> dt.datetime:
    """When a V4 signed URL stops working, read from the URL itself (X-Goog-Date + Expires)."""
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    signed_at = dt.datetime.strptime(query["X-Goog-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    return signed_at + dt.timedelta(seconds=int(query["X-Goog-Expires"]))
