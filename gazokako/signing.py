"""V4 signed URLs, keyless in production.

Production signs through IAM `signBlob` as the function's own runtime service account: the
client library is given the account's email and a fresh access token instead of a private key,
so no key exists anywhere. Locally the dev stack makes a throwaway key under `.local/`.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import google.auth
import google.auth.transport.requests
from google.cloud import storage  # type: ignore[attr-defined]
from google.oauth2 import service_account

from gazokako.config import Config

_SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)


@dataclass(frozen=True)
class SignedRequest:
    url: str
    method: str
    headers: Mapping[str, str]
    expires_at: dt.datetime


class UrlSigner:
    """Signs URLs for objects; holds whichever credentials the configuration calls for."""

    def __init__(self, config: Config) -> None:
        self._config = config
        self._lock = threading.Lock()
        self._key_credentials: service_account.Credentials | None = None
        self._token_credentials: Any = None

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
        response_disposition: str | None = None,
    ) -> SignedRequest:
        ttl = dt.timedelta(seconds=self._config.url_ttl_seconds)
        expires_at = dt.datetime.now(dt.UTC).replace(microsecond=0) + ttl
        url = blob.generate_signed_url(
            version="v4",
            expiration=ttl,
            method=method,
            content_type=content_type,
            headers=dict(headers or {}),
            response_disposition=response_disposition,
            api_access_endpoint=self._config.storage_public_url,
            **self._signing_kwargs(),
        )
        sent_headers = dict(headers or {})
        if content_type:
            sent_headers["Content-Type"] = content_type
        return SignedRequest(url=url, method=method, headers=sent_headers, expires_at=expires_at)
