"""infra/ against the Google provider's own schema (see provider_schema.py): the offline part
of `terraform validate` that catches misspelt attributes, blocks and missing arguments."""

from __future__ import annotations

import re

import pytest

from tests.deploy import hcl, provider_schema
from tests.deploy.conftest import Background


def _provider_of(block: hcl.Block) -> str:
    return "google-beta" if "google-beta" in str(block.body.get("provider", "")) else "google"


@pytest.fixture(scope="module")
def schemas(provider_schemas: Background) -> dict[str, provider_schema.Schema]:
    provider_schemas.wait()
    return {p: provider_schema.load(p) for p in provider_schema.PACKAGES}


def test_every_block_matches_the_provider_schema(
    tf: hcl.Config, schemas: dict[str, provider_schema.Schema]
) -> None:
    found = []
    for block in tf.blocks:
        provider = _provider_of(block)
        struct = provider_schema.config_struct(block, provider)
        found += provider_schema.problems(block.body, struct, schemas[provider], block.address)
    assert found == []
    assert len(tf.blocks) > 30


def test_the_schema_check_catches_mistakes(schemas: dict[str, provider_schema.Schema]) -> None:
    google = schemas["google"]
    block = hcl.Block("resource", "google_cloudfunctions2_function", "bad", {}, "x.tf")
    struct = provider_schema.config_struct(block, "google")
    body = {
        "name": "f",
        "service_config": [{"availble_memory": "1Gi"}],
        "event_trigger": [{"event_filters": [{"attribute": "bucket", "valu": "b"}]}],
    }
    found = provider_schema.problems(body, struct, google, "f")
    assert any("availble_memory" in p for p in found)
    assert any("'valu'" in p for p in found)
    assert any("missing required 'location'" in p for p in found)


def test_required_provider_versions_match_the_checked_schema(
    schemas: dict[str, provider_schema.Schema],
) -> None:
    versions = (hcl.INFRA / "versions.tf").read_text(encoding="utf-8")
    for provider, schema in schemas.items():
        block = re.search(rf"{provider} = \{{[^}}]*version\s*=\s*\"([^\"]+)\"", versions)
        assert block, provider
        # Exactly the release the schema check speaks for: a deploy never picks up a newer
        # provider nobody checked (or a compromised release of one).
        assert block[1] == schema["provider_version"], (provider, block[1])
