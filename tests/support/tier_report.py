"""A pytest plugin for tests/test_tiers.py: after collection, writes every collected test's id,
fixture closure and markers as JSON to the file named by GAZOKAKO_TIER_REPORT."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest


def pytest_collection_finish(session: pytest.Session) -> None:
    target = os.environ.get("GAZOKAKO_TIER_REPORT")
    if not target:
        return
    report = {
        item.nodeid: [
            sorted(getattr(item, "fixturenames", ())),
            sorted({mark.name for mark in item.iter_markers()}),
        ]
        for item in session.items
    }
    Path(target).write_text(json.dumps(report), encoding="utf-8")
