"""The Terraform in infra/, parsed with python-hcl2 into plain dicts the tests can walk."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hcl2

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"

_OPTIONS = hcl2.SerializationOptions(
    with_comments=False, explicit_blocks=False, strip_string_quotes=True
)


@dataclass(frozen=True)
class Block:
    kind: str  # "resource" or "data"
    type: str
    name: str
    body: dict[str, Any]
    file: str

    @property
    def address(self) -> str:
        prefix = "data." if self.kind == "data" else ""
        return f"{prefix}{self.type}.{self.name}"


@dataclass(frozen=True)
class Config:
    blocks: list[Block]
    variables: dict[str, dict[str, Any]]
    locals: dict[str, Any]
    outputs: dict[str, dict[str, Any]]
    imports: list[dict[str, Any]]

    def of_type(self, type_: str) -> list[Block]:
        return [b for b in self.blocks if b.kind == "resource" and b.type == type_]

    def get(self, type_: str, name: str) -> Block:
        for block in self.of_type(type_):
            if block.name == name:
                return block
        raise KeyError(f"{type_}.{name} is not in infra/")


def parse_file(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        parsed: dict[str, Any] = hcl2.load(handle, serialization_options=_OPTIONS)
    return parsed


def load(folder: Path = INFRA) -> Config:
    blocks: list[Block] = []
    variables: dict[str, dict[str, Any]] = {}
    local_values: dict[str, Any] = {}
    outputs: dict[str, dict[str, Any]] = {}
    imports: list[dict[str, Any]] = []
    for path in sorted(folder.glob("*.tf")):
        parsed = parse_file(path)
        for kind in ("resource", "data"):
            for entry in parsed.get(kind, []):
                for type_, named in entry.items():
                    for name, body in named.items():
                        blocks.append(Block(kind, type_, name, body, path.name))
        for entry in parsed.get("variable", []):
            variables.update(entry)
        for entry in parsed.get("locals", []):
            local_values.update(entry)
        for entry in parsed.get("output", []):
            outputs.update(entry)
        imports.extend(parsed.get("import", []))
    return Config(blocks, variables, local_values, outputs, imports)


def walk(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every (path, leaf) below `value`; blocks come out of python-hcl2 as lists of dicts."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from walk(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from walk(item, f"{path}[{index}]")
    else:
        yield path, value


def one(body: dict[str, Any], key: str) -> dict[str, Any]:
    """The single nested block `key` of a block body."""
    blocks = body.get(key)
    assert isinstance(blocks, list) and len(blocks) == 1, f"expected one {key} block"
    block: dict[str, Any] = blocks[0]
    return block


def ref(expression: Any) -> str | None:
    """`${google_x.y.attr}` -> `google_x.y.attr`; None for anything that is not a bare reference."""
    if not isinstance(expression, str):
        return None
    match = re.fullmatch(r"\$\{([A-Za-z0-9_.\[\]]+)\}", expression)
    return match[1] if match else None
