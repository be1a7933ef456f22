"""A small client for the running stack's HTTP API, as a browser or script would use it."""

from __future__ import annotations

import time
from typing import Any

import requests

TERMINAL = ("done", "failed")


def create_upload(api: str, data: bytes, content_type: str, **fields: Any) -> dict[str, Any]:
    body = {
        "filename": fields.pop("filename", "photo"),
        "content_type": content_type,
        "size": len(data),
        **fields,
    }
    resp = requests.post(f"{api}/uploads", json=body, timeout=30)
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def put_upload(upload: dict[str, Any], data: bytes) -> requests.Response:
    return requests.request(
        upload["method"], upload["url"], data=data, headers=upload["headers"], timeout=60
    )


def wait_for_job(status_url: str, *, give_up_after: float = 180.0) -> dict[str, Any]:
    """Poll until the job is terminal. The bound only stops a broken run from hanging forever."""
    deadline = time.monotonic() + give_up_after
    while True:
        job = requests.get(status_url, timeout=30).json()
        if job.get("status") in TERMINAL or time.monotonic() > deadline:
            return dict(job)
        time.sleep(0.2)


def upload_and_wait(api: str, data: bytes, content_type: str, **fields: Any) -> dict[str, Any]:
    created = create_upload(api, data, content_type, **fields)
    put = put_upload(created["upload"], data)
    assert put.status_code == 200, put.text
    return wait_for_job(created["status_url"])
