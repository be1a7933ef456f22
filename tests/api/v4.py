"""Independent verification of V4 signed URLs, as Cloud Storage does it (the emulator does not).

The canonical request is rebuilt from the URL and the headers the API told the client to send,
the string to sign from it, and the RSA-SHA256 signature is checked with the signer's public key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

_UNRESERVED = "-_.~"


@dataclass(frozen=True)
class SignedUrl:
    method: str
    host: str
    path: str
    query: dict[str, str]
    signature: bytes
    signed_headers: tuple[str, ...]
    credential_email: str
    scope: str
    signed_at: dt.datetime
    expires_seconds: int

    @property
    def expires_at(self) -> dt.datetime:
        return self.signed_at + dt.timedelta(seconds=self.expires_seconds)


def parse(url: str, method: str) -> SignedUrl:
    parts = urllib.parse.urlsplit(url)
    pairs = urllib.parse.parse_qsl(parts.query, keep_blank_values=True, strict_parsing=True)
    query = dict(pairs)
    assert len(query) == len(pairs), "a query parameter appears twice"
    assert query["X-Goog-Algorithm"] == "GOOG4-RSA-SHA256"
    email, scope = query["X-Goog-Credential"].split("/", 1)
    return SignedUrl(
        method=method,
        host=parts.netloc,
        path=parts.path,
        query=query,
        signature=bytes.fromhex(query["X-Goog-Signature"]),
        signed_headers=tuple(query["X-Goog-SignedHeaders"].split(";")),
        credential_email=email,
        scope=scope,
        signed_at=dt.datetime.strptime(query["X-Goog-Date"], "%Y%m%dT%H%M%SZ").replace(
            tzinfo=dt.UTC
        ),
        expires_seconds=int(query["X-Goog-Expires"]),
    )


def string_to_sign(signed: SignedUrl, headers: Mapping[str, str]) -> bytes:
    """The V4 string to sign for a request that sends `headers` (plus Host) to the URL."""
    sent = {k.lower(): " ".join(v.split()) for k, v in headers.items()}
    sent["host"] = signed.host
    canonical_headers = "".join(f"{k}:{sent[k]}\n" for k in sorted(sent))
    query = sorted((k, v) for k, v in signed.query.items() if k != "X-Goog-Signature")
    canonical_query = "&".join(
        f"{urllib.parse.quote(k, safe=_UNRESERVED)}={urllib.parse.quote(v, safe=_UNRESERVED)}"
        for k, v in query
    )
    canonical_request = "\n".join(
        [
            signed.method,
            signed.path,
            canonical_query,
            canonical_headers,
            ";".join(sorted(sent)),
            "UNSIGNED-PAYLOAD",
        ]
    )
    return "\n".join(
        [
            "GOOG4-RSA-SHA256",
            signed.query["X-Goog-Date"],
            signed.scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    ).encode()


def verify(url: str, method: str, headers: Mapping[str, str], key: rsa.RSAPublicKey) -> SignedUrl:
    """Raise unless `key` signed exactly this request; returns the parsed URL for more checks."""
    signed = parse(url, method)
    expected = tuple(sorted({*(k.lower() for k in headers), "host"}))
    # The URL must sign exactly the headers the client is told to send, no more, no fewer.
    assert signed.signed_headers == expected, (signed.signed_headers, expected)
    key.verify(
        signed.signature, string_to_sign(signed, headers), padding.PKCS1v15(), hashes.SHA256()
    )
    return signed


def is_valid(url: str, method: str, headers: Mapping[str, str], key: rsa.RSAPublicKey) -> bool:
    try:
        verify(url, method, headers, key)
    except (InvalidSignature, AssertionError):
        return False
    return True
