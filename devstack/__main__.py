"""`python -m devstack up`: start the whole local stack, print its URLs, stop it on Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from devstack.stack import ENV_FILE, ROOT, Stack, env_lines


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack")
    parser.add_argument("command", choices=["up"])
    parser.add_argument("--state-dir", type=Path, default=ROOT / ".local")
    args = parser.parse_args()

    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    stack = Stack(args.state_dir)
    print("starting the local stack (emulators, functions, bridge, page)…", flush=True)
    try:
        urls = stack.start()
    except Exception as exc:
        print(f"the stack did not start: {exc}", file=sys.stderr)
        return 1
    width = max(len(k) for k in urls)
    for key, value in urls.items():
        if key != "pids":
            print(f"  {key:<{width}}  {value}")
    env_file = args.state_dir / ENV_FILE
    print(f"\ngcloud, the Python clients and curl against this stack (or `source {env_file}`):")
    for line in env_lines(urls):
        print(f"  {line}")
    print(f"\nready in {urls['ready_seconds']} s. Open {urls['web']}")
    print(
        f"written to {args.state_dir / 'stack.json'} and {env_file}; Ctrl-C stops everything.",
        flush=True,
    )
    try:
        while not stop.is_set():
            for name, proc in stack.procs.items():
                if not proc.alive():
                    print(
                        f"{name} exited; stopping the stack. Log: {proc.log_path}", file=sys.stderr
                    )
                    stop.set()
            stop.wait(1.0)
    finally:
        print("stopping…", flush=True)
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
