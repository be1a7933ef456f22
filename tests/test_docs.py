"""Docs without drift: the README's picture names the objects ids.py makes, a number the
README's "Measured" table keeps is not written again in the other docs (they link there), and
every command block marked runnable (README.md, docs/*.md) runs as written against the session
stack, printing what the doc says it prints."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devstack.stack import ENV_FILE, Stack, client_env
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


# -- docs that run as written ----------------------------------------------------------------
# A command block the tests run: this marker on the line before a ```sh fence. It may be
# followed by EXPECT_MARKER and a ```text fence: each line of that block must be a line the
# commands print (stdout). Blocks that need production (deploys, real projects) carry no marker.
RUN_MARKER = "<!-- run: local-stack -->"
EXPECT_MARKER = "<!-- expect -->"
RUNNABLE_DOCS = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))


class DocFormatError(ValueError):
    pass


@dataclass(frozen=True)
class DocBlock:
    where: str  # doc:line of the marker
    code: str
    expect: tuple[str, ...]


def _fence(lines: list[str], start: int, lang: str, where: str) -> tuple[str, int]:
    """The fenced block of `lang` that opens on the next non-blank line after `start`:
    (its text, the index of its closing fence)."""
    opening = next((i for i in range(start + 1, len(lines)) if lines[i].strip()), None)
    if opening is None or lines[opening].strip() != f"```{lang}":
        raise DocFormatError(f"{where}: the marker is not followed by a ```{lang} block")
    closing = next((i for i in range(opening + 1, len(lines)) if lines[i].strip() == "```"), None)
    if closing is None:
        raise DocFormatError(f"{where}: the ```{lang} block is never closed")
    return "\n".join(lines[opening + 1 : closing]) + "\n", closing


def runnable_blocks(text: str, doc: str) -> list[DocBlock]:
    """The marked command blocks of a doc, in order; a marker without its block is an error."""
    lines = text.splitlines()
    blocks: list[DocBlock] = []
    i = 0
    while i < len(lines):
        where = f"{doc}:{i + 1}"
        if lines[i].strip() == EXPECT_MARKER:
            raise DocFormatError(f"{where}: {EXPECT_MARKER} does not follow a runnable block")
        if lines[i].strip() == RUN_MARKER:
            code, i = _fence(lines, i, "sh", where)
            expect: tuple[str, ...] = ()
            following = next((j for j in range(i + 1, len(lines)) if lines[j].strip()), None)
            if following is not None and lines[following].strip() == EXPECT_MARKER:
                text_block, i = _fence(lines, following, "text", f"{doc}:{following + 1}")
                expect = tuple(line.strip() for line in text_block.splitlines() if line.strip())
            blocks.append(DocBlock(where, code, expect))
        i += 1
    return blocks


def _doc_blocks() -> dict[str, list[DocBlock]]:
    return {
        str(doc.relative_to(ROOT)): runnable_blocks(doc.read_text(), str(doc.relative_to(ROOT)))
        for doc in RUNNABLE_DOCS
    }


def test_every_run_marker_marks_a_command_block() -> None:
    blocks = _doc_blocks()  # raises on a marker without its block
    assert len(blocks["README.md"]) >= 1  # the curl walk-through
    # The local drop with its outcome message, the Python consumer, the backfill.
    assert len(blocks["docs/JOBS.md"]) >= 3


@pytest.mark.parametrize(
    "text",
    [
        f"{RUN_MARKER}\n\nsome prose\n```sh\ntrue\n```\n",  # prose between
        f"{RUN_MARKER}\n```bash\ntrue\n```\n",  # not an sh block
        f"{RUN_MARKER}\n```sh\ntrue\n",  # never closed
        f"text\n{RUN_MARKER}\n",  # no block at all
        f"{RUN_MARKER}\n```sh\ntrue\n```\n{EXPECT_MARKER}\nprose\n",  # expect without its block
        f"```sh\ntrue\n```\n{EXPECT_MARKER}\n```text\nx\n```\n",  # expect of an unmarked block
    ],
)
def test_a_marker_without_its_block_is_an_error(text: str) -> None:
    with pytest.raises(DocFormatError):
        runnable_blocks(text, "doc.md")


def test_the_reader_finds_blocks_and_their_expected_output() -> None:
    text = f"# t\n{RUN_MARKER}\n```sh\necho a\necho b\n```\n\n{EXPECT_MARKER}\n```text\nb\n\n```\n"
    assert runnable_blocks(text, "d.md") == [DocBlock("d.md:2", "echo a\necho b\n", ("b",))]


def _workdir(stack_handle: Stack, tmp_path: Path) -> Path:
    """A checkout as a user has it while `make dev` runs: every file of the repository (linked),
    and a .local/ whose stack.json and env.sh are the session stack's."""
    work = tmp_path / "checkout"
    local = work / ".local"
    local.mkdir(parents=True)
    for entry in ROOT.iterdir():
        if entry.name not in (".local", ".git"):
            (work / entry.name).symlink_to(entry)
    for name in ("stack.json", ENV_FILE):
        (local / name).symlink_to(stack_handle.state_dir / name)
    if (ROOT / ".local" / "cache").is_dir():
        (local / "cache").symlink_to(ROOT / ".local" / "cache")
    return work


def _doc_env(urls: dict[str, Any], home: Path) -> dict[str, str]:
    """The test's environment without anything pointing at clouds or emulators, then the env
    lines `make dev` prints; gcloud gets an empty configuration of its own, so no setting of
    this machine's can make a block pass."""
    lines = client_env(urls)
    keep = {
        k: v
        for k, v in os.environ.items()
        if k not in lines and not k.startswith("CLOUDSDK_") and not k.endswith("_EMULATOR_HOST")
    }
    return {**keep, **lines, "CLOUDSDK_CONFIG": str(home / "gcloud")}


@pytest.mark.parametrize(
    "doc", [str(d.relative_to(ROOT)) for d in RUNNABLE_DOCS if RUN_MARKER in d.read_text()]
)
def test_doc_blocks_run_as_written(doc: str, stack_handle: Stack, tmp_path: Path) -> None:
    """Each marked block of the doc, in order, in one checkout, by `bash -euo pipefail`."""
    work = _workdir(stack_handle, tmp_path)
    env = _doc_env(stack_handle.urls, tmp_path)
    for block in _doc_blocks()[doc]:
        ran = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", block.code],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert ran.returncode == 0, f"{block.where}\n{ran.stdout}\n{ran.stderr}"
        printed = [line.strip() for line in ran.stdout.splitlines()]
        missing = [line for line in block.expect if line not in printed]
        assert missing == [], f"{block.where} did not print {missing}:\n{ran.stdout}"
