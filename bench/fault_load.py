"""Fault and load run on a local stack of its own: many uploads at once, valid photos and
invalid files, direct bucket drops, while the bridge duplicates, delays and re-sends events and
the process function is killed (SIGKILL) and restarted mid-run.

Checks that every upload ends in exactly one terminal status (the expected one), that every
successful job has exactly one result object, that nothing is lost and no result is orphaned;
reports throughput and upload->done latency.

    .venv/bin/python -m bench.fault_load                 # the full run: 300 uploads
    .venv/bin/python -m bench.fault_load --uploads 40    # what `make test` runs, roughly

The engine is tests/support/fault_load.py; the scaled-down version runs in the test suite
(tests/process/test_fault_load.py).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

from tests.support.fault_load import fault_stack, run


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--uploads", type=int, default=300, help="through the upload API")
    parser.add_argument("--drops", type=int, default=0, help="direct bucket drops on top")
    parser.add_argument("--invalid-share", type=float, default=0.25)
    parser.add_argument("--kills", type=int, default=1, help="SIGKILLs of the process function")
    parser.add_argument("--concurrency", type=int, default=32, help="clients uploading at once")
    parser.add_argument("--large", action="store_true", help="add a 12 MP JPEG to the mix")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--no-faults", action="store_true", help="baseline: no injected faults (use --kills 0)"
    )
    parser.add_argument(
        "--state-dir", help="where the stack keeps its logs (default: a new temp dir)"
    )
    args = parser.parse_args()
    state = Path(args.state_dir or tempfile.mkdtemp(prefix="gazokako-fault-"))
    print(f"stack state and logs: {state}", file=sys.stderr, flush=True)
    with fault_stack(state, faults=not args.no_faults) as stack:
        report = run(
            stack,
            uploads=args.uploads,
            drops=args.drops,
            invalid_share=args.invalid_share,
            kills=args.kills,
            concurrency=args.concurrency,
            large=args.large,
            seed=args.seed,
            progress=lambda msg: print(msg, file=sys.stderr, flush=True),
        )
    out = asdict(report)
    out["ok"] = report.ok
    print(json.dumps(out, indent=2))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
