"""POST /uploads over real HTTP: the response's shape, the job it creates, and the signed PUT,
verified cryptographically (the storage emulator itself checks no signature)."""

from __future__ import annotations

import datetime as dt
import urllib.parse
from typing import Any

import requests

from gazokako.config import MAX_URL_TTL_SECONDS
from tests.api import v4
from tests.api.conftest import SigningKey
from tests.support.corpus import skimage_image


def _create(api: str, **body: Any) -> requests.Response:
    payload = {"filename": "photo.png", "content_type": "image/png", "size": 1234, **body}
    return requests.post(f"{api}/uploads", json=payload, timeout=30)


def _object(stack: dict[str, Any], bucket: str, name: str) -> requests.Response:
    quoted = urllib.parse.quote(name, safe="")
    return requests.get(f"{stack['storage']}/storage/v1/b/{bucket}/o/{quoted}", timeout=10)


def test_created_upload_has_the_contract_shape(api: str) -> None:
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    resp = _create(api, size=5000, ops=["grayscale", "blur_faces"], options={"quality": 70})
    after = dt.datetime.now(dt.UTC)
    assert resp.status_code == 201, resp.text
    assert resp.headers["Content-Type"] == "application/json"
    assert resp.headers["Cache-Control"] == "no-store"
    body = resp.json()
    assert set(body) == {"id", "upload", "status_url", "expires_at"}
    assert len(body["id"]) == 32
    assert body["status_url"] == f"{api}/jobs/{body['id']}"
    upload = body["upload"]
    assert upload["method"] == "PUT"
    # Exactly the headers the page sets on its XHR; nothing a browser may not set itself.
    assert upload["headers"] == {
        "Content-Type": "image/png",
        "x-goog-content-length-range": "5000,5000",
        # Single use: storage refuses a write where an object already exists.
        "x-goog-if-generation-match": "0",
    }
    expires = dt.datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
    assert before + dt.timedelta(seconds=MAX_URL_TTL_SECONDS) <= expires
    assert expires <= after + dt.timedelta(seconds=MAX_URL_TTL_SECONDS)


def test_job_exists_when_the_url_is_returned(api: str) -> None:
    created = _create(api, filename="家族写真 2024.png", ops=["grayscale"]).json()
    job = requests.get(created["status_url"], timeout=30)
    assert job.status_code == 200
    doc = job.json()
    assert doc["status"] == "awaiting_upload"
    assert doc["ops"] == ["grayscale"]
    assert doc["origin"] == "api"
    assert doc["source"] == {
        "content_type": "image/png",
        "declared_bytes": 1234,
        "filename": "家族写真 2024.png",
    }
    assert doc["created_at"].endswith("Z") and doc["updated_at"].endswith("Z")
    assert "result" not in doc and "error" not in doc


def test_default_ops_are_mosaic_faces(api: str) -> None:
    created = _create(api).json()
    assert requests.get(created["status_url"], timeout=30).json()["ops"] == ["mosaic_faces"]


def test_signed_put_verifies_with_the_local_public_key(
    api: str, stack: dict[str, Any], signing_key: SigningKey
) -> None:
    created = _create(api, filename="../../etc/passwd", content_type="image/jpeg").json()
    upload = created["upload"]
    signed = v4.verify(upload["url"], "PUT", upload["headers"], signing_key.public_key)
    assert signed.credential_email == signing_key.email
    assert signed.scope.endswith("/auto/storage/goog4_request")
    assert signed.signed_headers == (
        "content-type",
        "host",
        "x-goog-content-length-range",
        "x-goog-if-generation-match",
    )
    assert 0 < signed.expires_seconds <= MAX_URL_TTL_SECONDS
    assert created["expires_at"] == signed.expires_at.isoformat().replace("+00:00", "Z")
    # The server names the object; nothing of the client's filename reaches the path.
    assert signed.path == f"/{stack['uploads_bucket']}/u/{created['id']}/source"
    assert signed.host == urllib.parse.urlsplit(stack["storage"]).netloc


def test_signature_check_fails_for_any_other_request(api: str, signing_key: SigningKey) -> None:
    upload = _create(api, size=777).json()["upload"]
    url, headers, key = upload["url"], upload["headers"], signing_key.public_key
    assert v4.is_valid(url, "PUT", headers, key)
    # What storage would refuse in production: another type, another length, another method,
    # a dropped pinned header, another object, a stretched expiry.
    assert not v4.is_valid(url, "PUT", {**headers, "Content-Type": "image/jpeg"}, key)
    assert not v4.is_valid(url, "PUT", {**headers, "x-goog-content-length-range": "0,9"}, key)
    assert not v4.is_valid(url, "POST", headers, key)
    assert not v4.is_valid(url, "PUT", {"Content-Type": "image/png"}, key)
    single_use_dropped = {k: v for k, v in headers.items() if k != "x-goog-if-generation-match"}
    assert not v4.is_valid(url, "PUT", single_use_dropped, key)
    assert not v4.is_valid(url.replace("/source?", "/other?"), "PUT", headers, key)
    assert not v4.is_valid(url.replace("X-Goog-Expires=", "X-Goog-Expires=9"), "PUT", headers, key)


def test_put_with_the_given_headers_lands_the_object(api: str, stack: dict[str, Any]) -> None:
    photo = skimage_image("chelsea.png")
    resp = requests.post(
        f"{api}/uploads",
        json={"content_type": "image/png", "size": len(photo), "ops": []},
        timeout=30,
    )
    created = resp.json()
    upload = created["upload"]
    put = requests.put(upload["url"], data=photo, headers=upload["headers"], timeout=60)
    assert put.status_code == 200, put.text
    meta = _object(stack, stack["uploads_bucket"], f"u/{created['id']}/source")
    assert meta.status_code == 200
    assert meta.json()["contentType"] == "image/png"
    assert int(meta.json()["size"]) == len(photo)


def test_each_upload_gets_a_fresh_unguessable_id(api: str) -> None:
    ids = {_create(api).json()["id"] for _ in range(5)}
    assert len(ids) == 5
    assert all(len(i) == 32 and set(i) <= set(_URLSAFE) for i in ids)


_URLSAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
