"""The scaled-down fault and load run (bench/fault_load.py runs the full 300) on a stack of its
own, so killing its process function cannot disturb the session stack's tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.stack import Stack
from tests.support.fault_load import Report, fault_stack, run

# Starts a stack of its own (no stack_handle fixture), so the conftest cannot infer the marker.
pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def faulty_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with fault_stack(Path(tmp_path_factory.mktemp("fault-stack"))) as stack:
        yield stack


@pytest.fixture(scope="module")
def report(faulty_stack: Stack) -> Report:
    return run(faulty_stack, uploads=40, drops=8, invalid_share=0.25, kills=1, concurrency=16)


def test_every_upload_ends_in_exactly_one_expected_outcome(report: Report) -> None:
    # The problems list names every lost job, duplicate job, unexpected status, orphan or extra
    # result, and every job with more than one terminal record.
    assert report.problems == []
    assert sum(report.outcomes.values()) == 48
    # One outcome message per job on the jobs topic (a repeat only where a kill cut between
    # the publish and its mark; the problems list bounds those by the kills).
    assert report.outcome_messages - report.outcome_duplicates == 48
    for kind in ("api:done", "api:failed", "drop:done", "drop:failed"):
        assert report.outcomes.get(kind, 0) > 0, report.outcomes


def test_the_faults_really_happened(report: Report) -> None:
    assert report.kills == 1
    bridge = report.bridge
    assert bridge["duplicated"] > 0 and bridge["delayed"] > 0, bridge
    # Nacks: deliveries cut off by the kill, or told to come back while a lease was held.
    assert bridge["nacked"] > 0 and bridge["in_flight"] == 0, bridge
    assert report.latency_p50_s > 0 and report.throughput_per_s > 0
