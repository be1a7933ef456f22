"""gazokako/LOG_EVENTS.md lists every log event the code emits, with its severities and fields,
and nothing else. Read from the source: every `log_event(...)` call, its event name (each
branch of a conditional), its `severity` (INFO when absent) and its keyword fields."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = ROOT / "gazokako" / "LOG_EVENTS.md"
EMITTERS = ("gazokako", "functions", "devstack", "imaging")
ROW = re.compile(r"^\| `([a-z_.]+)` \| ([A-Z, ]+) \| ([^|]*) \|")


def _strings(node: ast.expr) -> set[str]:
    """The string constants an expression can take (a literal or the branches of `a if c else
    b`); anything else is refused, since the catalogue could not be checked against it."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.IfExp):
        return _strings(node.body) | _strings(node.orelse)
    raise AssertionError(f"line {node.lineno}: log event parts must be literal strings")


def emitted() -> dict[str, tuple[set[str], set[str]]]:
    """event -> (severities, fields), over every call in the code."""
    found: dict[str, tuple[set[str], set[str]]] = defaultdict(lambda: (set(), set()))
    for folder in EMITTERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.Call):
                    continue
                func = node.func
                name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
                if name != "log_event" or path.name == "logs.py":
                    continue
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                assert node.args, where
                keywords = {k.arg: k.value for k in node.keywords}
                assert None not in keywords, f"{where}: **fields hides the fields"
                severity = keywords.pop("severity", None)
                severities = {"INFO"} if severity is None else _strings(severity)
                keywords.pop("message", None)
                for event in _strings(node.args[0]):
                    found[event][0].update(severities)
                    found[event][1].update(k for k in keywords if k is not None)
    return dict(found)


def catalogued() -> dict[str, tuple[set[str], set[str]]]:
    rows: dict[str, tuple[set[str], set[str]]] = {}
    for line in CATALOGUE.read_text(encoding="utf-8").splitlines():
        match = ROW.match(line)
        if match:
            event, severities, fields = match.groups()
            assert event not in rows, f"{event} is listed twice"
            rows[event] = (
                {s.strip() for s in severities.split(",")},
                set(re.findall(r"`([a-z_]+)`", fields)),
            )
    return rows


def test_every_emitted_event_is_catalogued_and_every_row_is_emitted() -> None:
    code, listed = emitted(), catalogued()
    assert len(code) >= 20  # the scan found the calls (a broken scan would pass otherwise)
    assert sorted(set(code) - set(listed)) == [], "emitted but not in gazokako/LOG_EVENTS.md"
    assert sorted(set(listed) - set(code)) == [], "listed but emitted nowhere"


def test_catalogued_severities_and_fields_are_the_emitted_ones() -> None:
    code, listed = emitted(), catalogued()
    wrong = {
        event: {"code": code[event], "catalogue": listed[event]}
        for event in code.keys() & listed.keys()
        if code[event] != listed[event]
    }
    assert wrong == {}
