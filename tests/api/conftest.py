"""Fixtures of the upload API tier: the running function, its signing key, a limited instance."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from devstack.stack import Stack
from tests.api.instance import start_upload_function

# The limited instance: a small burst to exhaust in a few requests, and a refill so slow (one
# token a minute) that a slow machine cannot refill a bucket in the middle of a test.
LIMITED = {
    "RATE_LIMIT_PER_MINUTE": "1",
    "RATE_LIMIT_BURST": "3",
    "RATE_LIMIT_READS_PER_MINUTE": "1",
    "RATE_LIMIT_READS_BURST": "5",
    "TRUSTED_PROXY_HOPS": "1",
}


@dataclass(frozen=True)
class SigningKey:
    email: str
    public_key: rsa.RSAPublicKey


@pytest.fixture(scope="session")
def api(stack: dict[str, Any]) -> str:
    return str(stack["upload_api"])


@pytest.fixture(scope="session")
def signing_key(stack_handle: Stack) -> SigningKey:
    info = json.loads((stack_handle.state_dir / "signing-key.json").read_text())
    private = serialization.load_pem_private_key(info["private_key"].encode(), password=None)
    public = private.public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    return SigningKey(email=info["client_email"], public_key=public)


@pytest.fixture(scope="module")
def limited_api(stack_handle: Stack) -> Iterator[str]:
    proc, url = start_upload_function(stack_handle, "upload-limited", LIMITED, threads=4)
    try:
        yield url
    finally:
        proc.stop()
