"""A fake of the upload API and of signed storage URLs, for the faults the real stack cannot make.

The real local stack covers the main path (tests/web/test_web_stack.py). This fake exists only to
produce what the emulators never do on demand: an expired upload link, a connection dropped in the
middle of an upload, a job that never finishes, a result link that expires, rate limiting, a
storage that reads slowly enough for upload progress to be seen, and exact-header checks on the
PUT. It speaks the same contract as functions/upload (docs in the brief of issue 6), including
the review's `POST /jobs/{id}/revisions` (issue 14), so the "check the faces" view can be driven
quickly in every language and width and with a review window that has closed (410).
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import cv2
import numpy as np


def result_png(width: int = 64, height: int = 48) -> bytes:
    """A small striped picture that stands in for a processed result."""
    img = np.zeros((height, width, 3), np.uint8)
    img[:, : width // 2] = (40, 160, 40)
    img[:, width // 2 :] = (200, 200, 200)
    ok, buf = cv2.imencode(".png", img)
    assert ok
    return bytes(buf)


@dataclass
class Scenario:
    """What the fake does; tests set the fields before driving the page."""

    create_status: int = 201  # e.g. 429 or 413 to refuse POST /uploads
    put_mode: str = "ok"  # "ok" | "expired" | "drop"
    put_read_chunk: int = 64 * 1024
    put_read_delay_s: float = 0.0
    polls_before_done: int = 1  # GETs answering "processing" before "done"
    stuck: bool = False  # never leaves "processing" until released
    final_status: str = "done"  # or "failed"
    failure: dict[str, str] = field(
        default_factory=lambda: {"code": "detection_unavailable", "message": "no detector"}
    )
    expire_first_result_url: bool = False
    faces: int = 2
    # The review ("check the faces", POST /jobs/{id}/revisions):
    review_until: str | None = field(
        default_factory=lambda: (datetime.now(UTC) + timedelta(minutes=30)).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
    )
    revision_refusal: tuple[int, str] | None = None  # e.g. (410, "review_closed")
    revision_polls: int = 1  # GETs answering "processing" after a new revision
    revision_failure: str | None = None  # a code: the render fails, the old result stands


@dataclass
class Job:
    id: str
    ops: list[str]
    size: int
    content_type: str
    uploaded: bool = False
    polls: int = 0
    result_version: int = 0
    width: int = 64  # the upright source size, read from the uploaded picture
    height: int = 48
    done: bool = False
    revision: int = 0  # the applied revision
    revision_key: str | None = None  # the set of the pending or applied revision
    revision_polls: int = 0
    revision_seq: int = 0  # the last revision number given
    pending: int | None = None  # the revision being rendered
    pending_boxes: list[dict[str, int]] | None = None
    applied: list[dict[str, int]] | None = None  # the box set of the applied revision
    revision_error: dict[str, Any] | None = None
    applied_key: str | None = None


class FakeApi:
    def __init__(self) -> None:
        self.scenario = Scenario()
        self.jobs: dict[str, Job] = {}
        self.requests: list[tuple[str, str]] = []
        self.uploads: list[dict[str, Any]] = []
        self.put_headers: list[dict[str, str]] = []
        self.put_bodies: list[int] = []
        self.deleted: list[str] = []
        self.revisions: list[dict[str, Any]] = []  # every POST .../revisions body, in order
        self.png = result_png()
        self._lock = threading.Lock()
        self._counter = 0
        handler = _make_handler(self)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler, bind_and_activate=False)
        # A small receive buffer keeps a slow reader slow: the browser's upload progress events
        # then follow what the server really took, not what the kernel buffered.
        self.server.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
        self.server.server_bind()
        self.server.server_activate()
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> FakeApi:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def release(self) -> None:
        self.scenario.stuck = False

    def new_id(self) -> str:
        with self._lock:
            self._counter += 1
            return f"fakejob{self._counter:04d}"

    def count(self, method: str, prefix: str) -> int:
        return sum(1 for m, p in self.requests if m == method and p.startswith(prefix))

    def detected(self, job: Job) -> list[dict[str, Any]]:
        """The fake detector's boxes: side by side across the upper half of the picture."""
        side = max(4, min(job.width, job.height) // 5)
        step = max(1, job.width // max(1, self.scenario.faces))
        return [
            {"x": min(i * step + 2, job.width - side), "y": job.height // 6, "w": side, "h": side}
            for i in range(self.scenario.faces)
        ]

    def job_doc(self, job: Job, poll: bool = True) -> dict[str, Any]:
        sc = self.scenario
        doc: dict[str, Any] = {
            "id": job.id,
            "ops": job.ops,
            "created_at": "2026-11-24T12:00:00Z",
            "updated_at": "2026-11-24T12:00:01Z",
            "source": {
                "content_type": job.content_type,
                "bytes": job.size,
                "width": job.width,
                "height": job.height,
            },
            "revision": job.revision if job.pending is None else job.pending,
            "review_until": sc.review_until,
        }
        if not job.uploaded:
            doc["status"] = "awaiting_upload"
            return doc
        if poll:
            job.polls += 1
        if sc.stuck or job.polls <= sc.polls_before_done:
            doc["status"] = "processing"
            return doc
        if job.pending is not None:
            if job.revision_polls > 0:
                if poll:
                    job.revision_polls -= 1
                doc["status"] = "processing"
                return doc
            self.settle_revision(job)
            doc["revision"] = job.revision
        if job.revision_error:
            doc["revision_error"] = dict(job.revision_error)
        if sc.final_status == "failed":
            doc["status"] = "failed"
            doc["error"] = dict(sc.failure)
            return doc
        job.done = True
        job.result_version += 1
        doc["status"] = "done"
        doc["result"] = {
            "url": f"{self.base}/results/{job.id}?v={job.result_version}",
            "content_type": "image/png",
            "width": 64,
            "height": 48,
            "bytes": len(self.png),
        }
        if job.applied is None:
            boxes = [{**box, "score": 0.9} for box in self.detected(job)]
        else:
            boxes = [dict(box) for box in job.applied]
        doc["faces"] = {"count": len(boxes), "boxes": boxes, "reviewed": job.applied is not None}
        return doc

    @staticmethod
    def valid(job: Job, body: Any) -> bool:
        """The API's 400 rules: known fields only, at most 256 whole-pixel boxes in the image."""
        if not isinstance(body, dict) or set(body) - {"boxes", "op"}:
            return False
        boxes = body.get("boxes")
        if not isinstance(boxes, list) or len(boxes) > 256:
            return False
        return all(
            isinstance(box, dict)
            and set(box) == {"x", "y", "w", "h"}
            and all(type(box[k]) is int for k in box)
            and box["w"] >= 1
            and box["h"] >= 1
            and box["x"] >= 0
            and box["y"] >= 0
            and box["x"] + box["w"] <= job.width
            and box["y"] + box["h"] <= job.height
            for box in boxes
        )

    def revise(self, job: Job, body: Any) -> tuple[int, dict[str, Any]]:
        """POST /jobs/{id}/revisions as the contract says: the complete box set, idempotent."""
        sc = self.scenario
        self.revisions.append(body)
        if sc.revision_refusal:
            status, code = sc.revision_refusal
            return status, {"error": {"code": code, "message": code.replace("_", " ")}}
        if not self.valid(job, body):
            return 400, {"error": {"code": "invalid_request", "message": "bad boxes"}}
        ordered = sorted(body["boxes"], key=lambda b: (b["y"], b["x"], b["h"], b["w"]))
        key = json.dumps([body.get("op"), ordered])
        if not job.done or (job.pending is not None and key != job.revision_key):
            return 409, {"error": {"code": "not_done", "message": "not done, or another pending"}}
        if key != job.revision_key:
            job.revision_seq += 1  # a number is never reused, even after a failed render
            job.pending = job.revision_seq
            job.revision_key = key
            job.pending_boxes = ordered
            job.revision_polls = sc.revision_polls
        return 202, self.job_doc(job, poll=False)

    def settle_revision(self, job: Job) -> None:
        """The pending revision's render ends: applied, or (revision_failure) recorded in
        revision_error with the previous result standing."""
        assert job.pending is not None
        if self.scenario.revision_failure:
            code = self.scenario.revision_failure
            job.revision_error = {"revision": job.pending, "code": code, "message": code}
            job.revision_key = job.applied_key
        else:
            job.applied_key = job.revision_key
            job.revision = job.pending
            job.applied = job.pending_boxes
        job.pending = None
        job.pending_boxes = None


def _make_handler(api: FakeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _cors(self) -> None:
            self.send_header("Access-Control-Allow-Origin", "*")
            self.send_header("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS")
            self.send_header(
                "Access-Control-Allow-Headers", "Content-Type, x-goog-content-length-range"
            )
            self.send_header("Access-Control-Max-Age", "600")

        def _send(self, status: int, body: bytes = b"", ctype: str = "application/json") -> None:
            self.send_response(status)
            self._cors()
            if body:
                self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body:
                self.wfile.write(body)

        def _json(self, status: int, data: Any) -> None:
            self._send(status, json.dumps(data).encode())

        def _error(self, status: int, code: str, message: str) -> None:
            self._json(status, {"error": {"code": code, "message": message}})

        def _record(self) -> str:
            path = self.path.split("?")[0]
            api.requests.append((self.command, path))
            return path

        def do_OPTIONS(self) -> None:
            self._send(204)

        def do_POST(self) -> None:
            path = self._record()
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            if match := re.fullmatch(r"/jobs/(\w+)/revisions", path):
                job = api.jobs.get(match.group(1))
                if job is None or job.id in api.deleted:
                    self._error(404, "not_found", "no such job")
                    return
                status, answer = api.revise(job, body)
                self._json(status, answer)
                return
            if path != "/uploads":
                self._error(404, "not_found", "no such route")
                return
            api.uploads.append(body)
            sc = api.scenario
            if sc.create_status == 429:
                self._error(429, "rate_limited", "slow down")
                return
            if sc.create_status == 413:
                self._error(413, "too_large", "larger than the limit")
                return
            job = Job(api.new_id(), body.get("ops") or [], body["size"], body["content_type"])
            api.jobs[job.id] = job
            self._json(
                201,
                {
                    "id": job.id,
                    "upload": {
                        "url": f"{api.base}/storage/{job.id}?X-Goog-Signature=fake",
                        "method": "PUT",
                        "headers": {
                            "Content-Type": job.content_type,
                            # As the real API: the declared size, exactly.
                            "x-goog-content-length-range": f"{job.size},{job.size}",
                        },
                    },
                    "status_url": f"{api.base}/jobs/{job.id}",
                    "expires_at": "2026-11-24T12:15:00Z",
                },
            )

        def do_PUT(self) -> None:
            path = self._record()
            match = re.fullmatch(r"/storage/(\w+)", path)
            job = api.jobs.get(match.group(1)) if match else None
            if job is None:
                self._send(404)
                return
            sc = api.scenario
            api.put_headers.append({k.lower(): v for k, v in self.headers.items()})
            if sc.put_mode == "drop":
                # Read a little, then vanish: the browser sees a network error mid-upload.
                self.rfile.read(min(64 * 1024, int(self.headers.get("Content-Length", "0"))))
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            remaining = int(self.headers.get("Content-Length", "0"))
            received = 0
            head = bytearray()
            while remaining > 0:
                chunk = self.rfile.read(min(sc.put_read_chunk, remaining))
                if not chunk:
                    break
                received += len(chunk)
                remaining -= len(chunk)
                if len(head) < 4 * 1024 * 1024:
                    head += chunk
                if sc.put_read_delay_s:
                    time.sleep(sc.put_read_delay_s)
            api.put_bodies.append(received)
            # The source size the real service reports, from the picture itself when it is one.
            picture = cv2.imdecode(np.frombuffer(bytes(head), np.uint8), cv2.IMREAD_COLOR)
            if picture is not None:
                job.height, job.width = picture.shape[:2]
            if sc.put_mode == "expired":
                xml = (
                    b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>ExpiredToken</Code>"
                    b"<Message>Invalid argument.</Message><Details>The provided token has "
                    b"expired. Request signature expired at: 2026-11-24T12:00:00+00:00"
                    b"</Details></Error>"
                )
                self._send(400, xml, "application/xml")
                return
            job.uploaded = True
            self._send(200)

        def do_GET(self) -> None:
            path = self._record()
            if match := re.fullmatch(r"/jobs/(\w+)", path):
                job = api.jobs.get(match.group(1))
                if job is None or job.id in api.deleted:
                    self._error(404, "not_found", "no such job")
                    return
                self._json(200, api.job_doc(job))
                return
            if match := re.fullmatch(r"/results/(\w+)", path):
                version = int(self.path.split("v=")[-1])
                if api.scenario.expire_first_result_url and version == 1:
                    self._send(400, b"<Error><Code>ExpiredToken</Code></Error>", "application/xml")
                    return
                self._send(200, api.png, "image/png")
                return
            self._send(404)

        def do_DELETE(self) -> None:
            path = self._record()
            if match := re.fullmatch(r"/jobs/(\w+)", path):
                api.deleted.append(match.group(1))
                self._send(204)
                return
            self._send(404)

    return Handler
