"""A fake of the upload API and of signed storage URLs, for the faults the real stack cannot make.

The real local stack covers the main path (tests/web/test_web_stack.py). This fake exists only to
produce what the emulators never do on demand: an expired upload link, a connection dropped in the
middle of an upload, a job that never finishes, a result link that expires, rate limiting, a
storage that reads slowly enough for upload progress to be seen, and exact-header checks on the
PUT. It speaks the same contract as functions/upload (docs in the brief of issue 6).
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from dataclasses import dataclass, field
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


@dataclass
class Job:
    id: str
    ops: list[str]
    size: int
    content_type: str
    uploaded: bool = False
    polls: int = 0
    result_version: int = 0


class FakeApi:
    def __init__(self) -> None:
        self.scenario = Scenario()
        self.jobs: dict[str, Job] = {}
        self.requests: list[tuple[str, str]] = []
        self.uploads: list[dict[str, Any]] = []
        self.put_headers: list[dict[str, str]] = []
        self.put_bodies: list[int] = []
        self.deleted: list[str] = []
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

    def job_doc(self, job: Job) -> dict[str, Any]:
        sc = self.scenario
        doc: dict[str, Any] = {
            "id": job.id,
            "ops": job.ops,
            "created_at": "2026-11-24T12:00:00Z",
            "updated_at": "2026-11-24T12:00:01Z",
            "source": {"content_type": job.content_type, "bytes": job.size},
        }
        if not job.uploaded:
            doc["status"] = "awaiting_upload"
            return doc
        job.polls += 1
        if sc.stuck or job.polls <= sc.polls_before_done:
            doc["status"] = "processing"
            return doc
        if sc.final_status == "failed":
            doc["status"] = "failed"
            doc["error"] = dict(sc.failure)
            return doc
        job.result_version += 1
        doc["status"] = "done"
        doc["result"] = {
            "url": f"{self.base}/results/{job.id}?v={job.result_version}",
            "content_type": "image/png",
            "width": 64,
            "height": 48,
            "bytes": len(self.png),
        }
        doc["faces"] = {
            "count": sc.faces,
            "boxes": [{"x": 4, "y": 4, "w": 10, "h": 10, "score": 0.9}] * sc.faces,
        }
        return doc


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
            while remaining > 0:
                chunk = self.rfile.read(min(sc.put_read_chunk, remaining))
                if not chunk:
                    break
                received += len(chunk)
                remaining -= len(chunk)
                if sc.put_read_delay_s:
                    time.sleep(sc.put_read_delay_s)
            api.put_bodies.append(received)
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
