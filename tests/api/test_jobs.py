"""GET /jobs/{id} and DELETE /jobs/{id} over real HTTP, through a real processed upload."""

from __future__ import annotations

import urllib.parse
from typing import Any

import requests

from gazokako.config import MAX_URL_TTL_SECONDS
from tests.api import v4
from tests.api.conftest import SigningKey
from tests.support.api import create_upload, put_upload, wait_for_job
from tests.support.corpus import skimage_image


def _exists(stack: dict[str, Any], bucket: str, name: str) -> bool:
    quoted = urllib.parse.quote(name, safe="")
    url = f"{stack['storage']}/storage/v1/b/{bucket}/o/{quoted}"
    return requests.get(url, timeout=10).status_code == 200


def test_done_job_shape_and_signed_result_then_erase(
    api: str, stack: dict[str, Any], signing_key: SigningKey
) -> None:
    photo = skimage_image("coffee.png")
    created = create_upload(api, photo, "image/png", filename="coffee.png", ops=["grayscale"])
    assert put_upload(created["upload"], photo).status_code == 200
    job = wait_for_job(created["status_url"])
    assert job["status"] == "done", job

    assert set(job) <= {
        "id",
        "status",
        "origin",
        "ops",
        "created_at",
        "updated_at",
        "source",
        "result",
        "faces",
        "error",
        "revision",
        "review_until",
        "revision_error",
    }
    assert job["id"] == created["id"] and job["ops"] == ["grayscale"]
    assert job["source"]["content_type"] == "image/png"
    assert job["source"]["filename"] == "coffee.png"
    assert "bucket" not in job["source"] and "name" not in job["source"]
    result = job["result"]
    assert {"url", "url_expires_at", "content_type", "width", "height", "bytes"} <= set(result)
    assert (result["width"], result["height"]) == (600, 400)

    signed = v4.verify(result["url"], "GET", {}, signing_key.public_key)
    assert signed.signed_headers == ("host",)
    assert 0 < signed.expires_seconds <= MAX_URL_TTL_SECONDS
    assert result["url_expires_at"] == signed.expires_at.isoformat().replace("+00:00", "Z")
    assert signed.path.startswith(f"/{stack['results_bucket']}/r/{created['id']}/")
    got = requests.get(result["url"], timeout=30)
    assert got.status_code == 200 and len(got.content) == result["bytes"]

    source_name = f"u/{created['id']}/source"
    result_name = signed.path.split("/", 2)[2]
    assert _exists(stack, stack["uploads_bucket"], source_name)
    assert _exists(stack, stack["results_bucket"], result_name)

    first = requests.delete(created["status_url"], timeout=30)
    assert first.status_code == 204 and first.content == b""
    assert not _exists(stack, stack["uploads_bucket"], source_name)
    assert not _exists(stack, stack["results_bucket"], result_name)
    gone = requests.get(created["status_url"], timeout=30)
    assert gone.status_code == 404
    assert gone.json() == {"error": {"code": "not_found", "message": "not found"}}
    # Erasing again, or erasing what never existed, is harmless and answers alike.
    assert requests.delete(created["status_url"], timeout=30).status_code == 204
    assert requests.delete(f"{api}/jobs/{'Z' * 32}", timeout=30).status_code == 204


def test_delete_before_upload_removes_the_job(api: str) -> None:
    created = create_upload(api, b"x" * 10, "image/jpeg")
    assert requests.get(created["status_url"], timeout=30).status_code == 200
    assert requests.delete(created["status_url"], timeout=30).status_code == 204
    assert requests.get(created["status_url"], timeout=30).status_code == 404


def test_unknown_and_malformed_ids_answer_identically(api: str) -> None:
    answers = [
        requests.get(f"{api}/jobs/{job_id}", timeout=30)
        for job_id in ("A" * 32, "short", "!" * 32, "%20" * 32)
    ]
    assert {a.status_code for a in answers} == {404}
    assert len({a.content for a in answers}) == 1
    assert len({a.headers["Content-Type"] for a in answers}) == 1
