"""The production signing path: no key anywhere, V4 signatures made by IAM signBlob.

The storage library's own HTTP call reaches a FAKE IAM Credentials endpoint (tests/api/
fake_iam.py, through the proxy settings `requests` honours); the URL it produces is then
verified against the fake's public key exactly as the local URLs are against the local key.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage  # type: ignore[attr-defined]
from google.oauth2.credentials import Credentials

from gazokako.config import MAX_URL_TTL_SECONDS, Config
from gazokako.errors import TransientError
from gazokako.signing import UrlSigner
from tests.api import v4
from tests.api.fake_iam import IAM_HOST, FakeIamCredentials

SA = "gazokako-upload@my-project.iam.gserviceaccount.com"
TOKEN = "ya29.fake-runtime-token"


@pytest.fixture
def fake_iam(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeIamCredentials]:
    fake = FakeIamCredentials(tmp_path, expected_token=TOKEN).start()
    for name in ("HTTPS_PROXY", "https_proxy"):
        monkeypatch.setenv(name, fake.proxy_url)
    for name in ("NO_PROXY", "no_proxy", "STORAGE_EMULATOR_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(fake.ca_bundle))
    try:
        yield fake
    finally:
        fake.stop()


def _production_config() -> Config:
    # What Terraform sets: the account to sign as, and no key file.
    return Config(
        project="my-project",
        uploads_bucket="gz-uploads",
        results_bucket="gz-results",
        signer_service_account=SA,
    )


def _blob(name: str) -> storage.Blob:
    client = storage.Client(project="my-project", credentials=AnonymousCredentials())  # type: ignore[no-untyped-call]
    return client.bucket("gz-uploads").blob(name)


def test_put_url_is_signed_by_iam_signblob(fake_iam: FakeIamCredentials) -> None:
    signer = UrlSigner(_production_config(), token_credentials=Credentials(token=TOKEN))  # type: ignore[no-untyped-call]
    signed = signer.sign(
        _blob("u/abc/source"),
        method="PUT",
        content_type="image/webp",
        headers={"x-goog-content-length-range": "4096,4096"},
    )
    assert signed.headers == {
        "Content-Type": "image/webp",
        "x-goog-content-length-range": "4096,4096",
    }
    parsed = v4.verify(signed.url, "PUT", signed.headers, fake_iam.public_key)
    assert parsed.host == "storage.googleapis.com"
    assert parsed.path == "/gz-uploads/u/abc/source"
    assert parsed.credential_email == SA
    assert 0 < parsed.expires_seconds <= MAX_URL_TTL_SECONDS
    assert signed.expires_at == parsed.expires_at

    [call] = fake_iam.calls
    assert call.connect_target == f"{IAM_HOST}:443"
    assert call.path.startswith(f"/v1/projects/-/serviceAccounts/{SA}:signBlob")
    assert call.email == SA
    assert call.authorization == f"Bearer {TOKEN}"
    # IAM signed exactly the V4 string to sign of this URL and these headers.
    assert call.payload == v4.string_to_sign(parsed, signed.headers)


def test_get_url_is_signed_by_iam_signblob(fake_iam: FakeIamCredentials) -> None:
    signer = UrlSigner(_production_config(), token_credentials=Credentials(token=TOKEN))  # type: ignore[no-untyped-call]
    signed = signer.sign(_blob("r/abc/result.jpg"), method="GET")
    v4.verify(signed.url, "GET", {}, fake_iam.public_key)
    assert len(fake_iam.calls) == 1


def test_refused_signblob_is_a_transient_error(fake_iam: FakeIamCredentials) -> None:
    signer = UrlSigner(_production_config(), token_credentials=Credentials(token="stale"))  # type: ignore[no-untyped-call]
    with pytest.raises(TransientError):
        signer.sign(_blob("u/abc/source"), method="GET")
    assert fake_iam.calls and fake_iam.calls[0].authorization == "Bearer stale"


def test_no_signer_configured_is_refused() -> None:
    config = Config(project="p", uploads_bucket="u", results_bucket="r")
    with pytest.raises(RuntimeError, match="SIGNER_SERVICE_ACCOUNT"):
        UrlSigner(config).sign(_blob("x"), method="GET")


def test_repeated_get_reuses_one_signature_while_half_its_life_is_left(
    fake_iam: FakeIamCredentials,
) -> None:
    now = [dt.datetime.now(dt.UTC)]
    signer = UrlSigner(
        _production_config(),
        token_credentials=Credentials(token=TOKEN),  # type: ignore[no-untyped-call]
        clock=lambda: now[0],
    )
    first = signer.sign(_blob("r/abc/result.jpg"), method="GET")
    assert signer.sign(_blob("r/abc/result.jpg"), method="GET") == first
    assert len(fake_iam.calls) == 1  # a polling page costs one signBlob, not one per poll

    signer.sign(_blob("r/other/result.jpg"), method="GET")
    assert len(fake_iam.calls) == 2  # another object is another signature

    ttl = (first.expires_at - now[0]).total_seconds()
    now[0] += dt.timedelta(seconds=ttl / 2 + 1)  # less than half the lifetime left
    renewed = signer.sign(_blob("r/abc/result.jpg"), method="GET")
    assert len(fake_iam.calls) == 3  # signed again (the library's own clock stamps it)
    v4.verify(renewed.url, "GET", {}, fake_iam.public_key)


def test_upload_urls_are_never_reused(fake_iam: FakeIamCredentials) -> None:
    signer = UrlSigner(_production_config(), token_credentials=Credentials(token=TOKEN))  # type: ignore[no-untyped-call]
    for _ in range(2):
        signer.sign(
            _blob("u/abc/source"),
            method="PUT",
            content_type="image/jpeg",
            headers={"x-goog-content-length-range": "10,10"},
        )
    assert len(fake_iam.calls) == 2
