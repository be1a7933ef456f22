"""The Google provider's resource schema, offline: a stand-in for `terraform validate`.

`terraform validate` needs the provider binary, which only the Terraform registry serves. The
PyPI packages `cdktn-provider-google(-beta)` are bindings generated from that provider's
schema and carry it whole in a jsii assembly (every resource, block and attribute, and which
are required). This module downloads the two wheels once (`pip download --no-deps`), keeps a
slim copy of the struct definitions under .local/cache/provider-schema/, and checks each
block of infra/ against it: unknown attributes, unknown nested blocks, missing required ones.

    python -m tests.deploy.provider_schema      # build the cache (the test fixture runs this)
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from tests.deploy import hcl

# cdktn-provider-google 21.1.0 is generated from hashicorp/google 8.7.0 (package.json says so,
# and the test checks it against infra/versions.tf).
PACKAGES = {
    "google": ("cdktn-provider-google", "21.1.0"),
    "google-beta": ("cdktn-provider-google-beta", "21.1.0"),
}
CACHE = hcl.ROOT / ".local" / "cache" / "provider-schema"
META_ARGUMENTS = {"count", "for_each", "depends_on", "provider", "lifecycle"}

Schema = dict[str, Any]  # {"provider_version": str, "structs": {fqn: {camelName: [optional, fqn]}}}


def _cache_file(provider: str) -> Path:
    name, version = PACKAGES[provider]
    return CACHE / f"{name}-{version}.json"


def _slim(assembly: dict[str, Any], package: dict[str, Any]) -> Schema:
    structs: dict[str, dict[str, list[Any]]] = {}
    for fqn, spec in assembly["types"].items():
        if spec.get("kind") != "interface" or not spec.get("datatype"):
            continue
        props: dict[str, list[Any]] = {}
        for prop in spec.get("properties", []):
            nested = [
                f
                for f in re.findall(r'"fqn": "([^"]+)"', json.dumps(prop["type"]))
                if f.startswith("@cdktn/provider-google")
            ]
            props[prop["name"]] = [bool(prop.get("optional")), nested[0] if nested else None]
        structs[fqn] = props
    version = package["cdktf"]["provider"]["version"]
    return {"provider_version": version, "structs": structs}


def build(provider: str) -> Path:
    """Download the bindings wheel once and keep the slim schema; returns the cache file."""
    target = _cache_file(provider)
    if target.exists():
        return target
    name, version = PACKAGES[provider]
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--disable-pip-version-check",
                "--dest",
                tmp,
                f"{name}=={version}",
            ],
            check=True,
            capture_output=True,
        )
        (wheel,) = Path(tmp).glob("*.whl")
        with zipfile.ZipFile(wheel) as zf:
            (member,) = [n for n in zf.namelist() if n.endswith(".jsii.tgz")]
            with tarfile.open(fileobj=io.BytesIO(zf.read(member))) as tar:
                assembly_file = tar.extractfile("package/.jsii")
                package_file = tar.extractfile("package/package.json")
                assert assembly_file is not None and package_file is not None
                schema = _slim(json.load(assembly_file), json.load(package_file))
        partial = Path(tmp) / "schema.json"
        partial.write_text(json.dumps(schema), encoding="utf-8")
        partial.replace(target)
    return target


def load(provider: str) -> Schema:
    loaded: Schema = json.loads(build(provider).read_text(encoding="utf-8"))
    return loaded


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def config_struct(block: hcl.Block, provider: str) -> str:
    """The jsii name of a block's top-level config struct."""
    short = block.type.removeprefix("google_")
    if provider == "google-beta":
        module = ("data_google_" if block.kind == "data" else "google_") + short
    else:
        module = ("data_google_" if block.kind == "data" else "") + short
    cls = "".join(part[:1].upper() + part[1:] for part in module.split("_")) + "Config"
    return f"@cdktn/provider-{provider}.{_camel(module)}.{cls}"


def problems(body: dict[str, Any], struct: str, schema: Schema, where: str) -> list[str]:
    """Everything in `body` the schema does not know, and what it requires that is missing."""
    props = schema["structs"].get(struct)
    if props is None:
        return [f"{where}: no schema for {struct}"]
    found: list[str] = []
    top = "[" not in where
    for key, value in body.items():
        if top and key in META_ARGUMENTS:
            continue
        prop = props.get(_camel(key))
        if prop is None:
            found.append(f"{where}: unknown attribute {key!r}")
            continue
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            nested = prop[1]
            if nested is None or nested not in schema["structs"]:
                found.append(f"{where}.{key}: written as a block, but it is an attribute")
                continue
            for index, item in enumerate(value):
                found += problems(item, nested, schema, f"{where}.{key}[{index}]")
    given = {_camel(k) for k in body}
    found += [
        f"{where}: missing required {name!r}"
        for name, (optional, _) in props.items()
        if not optional and name not in given
    ]
    return found


if __name__ == "__main__":
    for provider in PACKAGES:
        print(build(provider))
