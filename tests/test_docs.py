"""Docs without drift: the README's picture names the objects ids.py makes, and a number the
README's "Measured" table keeps is not written again in the other docs (they link there)."""

from __future__ import annotations

import re
from pathlib import Path

from gazokako.ids import result_object_name, source_object_name

ROOT = Path(__file__).resolve().parents[1]
# A measured quantity: a number with its unit (seconds, milliseconds, minutes, ratios, rates).
MEASURED = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)?\s?(?:s|ms|min|×|MiB|images/s)(?!\w)")


def _section(text: str, heading: str) -> str:
    start = text.index(f"\n## {heading}")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def test_how_it_works_names_the_objects_ids_makes() -> None:
    picture = _section((ROOT / "README.md").read_text(), "How it works")
    assert source_object_name("{id}") in picture
    result = result_object_name("{id}", 7, "png")
    assert result == "r/{id}/7.png"
    assert result.replace("7.png", "{generation}.<ext>") in picture
    # No object name in the picture that ids.py does not make.
    for name in re.findall(r"\b[ur]/\{id\}/\S+", picture):
        assert name in (source_object_name("{id}"), "r/{id}/{generation}.<ext>"), name


def test_measured_numbers_are_kept_once_in_the_readme() -> None:
    measured = _section((ROOT / "README.md").read_text(), "Measured")
    numbers = set(MEASURED.findall(measured))
    assert len(numbers) > 10  # the table is there and the pattern reads it
    repeated = []
    for doc in [*sorted((ROOT / "docs").glob("*.md")), ROOT / "DEVELOPMENT.md"]:
        text = doc.read_text()
        repeated += [
            f"{doc.relative_to(ROOT)}: {n}"
            for n in numbers
            if re.search(rf"(?<![\w.]){re.escape(n)}(?!\w)", text)
        ]
    assert repeated == [], "link to the README's Measured table instead"
