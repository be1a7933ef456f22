"""`python -m devstack.sweeper --every 30`: the local stand-in for Cloud Scheduler's tick.

In production Cloud Scheduler publishes to a topic every few minutes and Eventarc runs the
`sweep_reviews` function (docs/DEPLOY.md); here the stack runs this process, which calls the
same `gazokako.sweep.sweep_review_sources` on a period, with the process function's settings
(DELETE_ORIGINALS), so the review window ends locally as it does in the cloud. It stops on
SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from gazokako.clients import Clients
from gazokako.config import Config
from gazokako.errors import TransientError
from gazokako.logs import log_event
from gazokako.sweep import sweep_review_sources


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.sweeper")
    parser.add_argument(
        "--every", type=float, default=30.0, help="seconds between two runs (default 30)"
    )
    parser.add_argument("--once", action="store_true", help="one run, then exit")
    args = parser.parse_args(argv)
    if args.every <= 0:
        parser.error("--every must be positive")
    clients = Clients(Config.from_env())
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    while True:
        try:
            sweep_review_sources(clients)
        except TransientError as exc:
            # An emulator hiccup: the next run finds the same jobs again.
            log_event("sweep.failed", severity="WARNING", error=type(exc).__name__)
        if args.once or stop.wait(args.every):
            return 0


if __name__ == "__main__":
    sys.exit(main())
