"""`Config`: every default written once (the dataclass), every setting read from its variable,
and the defaults the docs and the other layers state are the ones the code has."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from gazokako.config import _INT_SETTINGS, MAX_URL_TTL_SECONDS, Config, ConfigError

ROOT = Path(__file__).resolve().parent.parent
BASE_ENV = {"PROJECT_ID": "p", "UPLOADS_BUCKET": "u", "RESULTS_BUCKET": "r"}


def _defaults() -> Config:
    return Config(project="p", uploads_bucket="u", results_bucket="r")


def test_the_byte_limit_is_the_documented_20_mb_everywhere() -> None:
    # Decimal megabytes: 20 MB, not 20 MiB (20,971,520), as the contract and the page say.
    limit = _defaults().max_upload_bytes
    assert limit == 20_000_000
    assert Config.from_env(BASE_ENV).max_upload_bytes == limit
    openapi = (ROOT / "api" / "openapi.yaml").read_text()
    assert f"maximum: {limit}\n" in openapi
    assert f"MAX_UPLOAD_BYTES (default {limit})" in openapi
    assert f"max_bytes: {limit:_}," in (ROOT / "web" / "api.js").read_text()
    variables = (ROOT / "infra" / "variables.tf").read_text()
    block = variables[variables.index('variable "max_upload_bytes"') :]
    assert re.search(rf"default\s*=\s*{limit}\n", block.split("}")[0])


def test_an_environment_without_optional_settings_gives_the_dataclass_defaults() -> None:
    assert Config.from_env(BASE_ENV) == _defaults()
    blank = dict.fromkeys((*_INT_SETTINGS, "DELETE_ORIGINALS"), " ")
    assert Config.from_env({**BASE_ENV, **blank, "DEFAULT_OPS": ""}) == _defaults()


@pytest.mark.parametrize(("variable", "field_name"), [(k, v[0]) for k, v in _INT_SETTINGS.items()])
def test_every_integer_setting_reaches_its_field(variable: str, field_name: str) -> None:
    config = Config.from_env({**BASE_ENV, variable: " 7 "})
    assert getattr(config, field_name) == 7
    changed = {f.name for f in dataclasses.fields(Config)} - {field_name}
    assert all(getattr(config, n) == getattr(_defaults(), n) for n in changed)
    with pytest.raises(ConfigError, match=variable):
        Config.from_env({**BASE_ENV, variable: "seven"})
    with pytest.raises(ConfigError, match=variable):
        Config.from_env({**BASE_ENV, variable: "-1"})


def test_the_other_settings_reach_their_fields() -> None:
    config = Config.from_env(
        {
            **BASE_ENV,
            "ALLOWED_ORIGINS": "https://a.example, http://localhost:8080",
            "SIGNER_SERVICE_ACCOUNT": "signer@p.iam.gserviceaccount.com",
            "LOCAL_SIGNING_KEY_FILE": "/tmp/key.json",
            "STORAGE_PUBLIC_URL": "http://localhost:4443/",
            "DEFAULT_OPS": "grayscale, blur_faces",
            "DELETE_ORIGINALS": "yes",
            "URL_TTL_SECONDS": "3600",
        }
    )
    assert config.allowed_origins == ("https://a.example", "http://localhost:8080")
    assert config.signer_service_account == "signer@p.iam.gserviceaccount.com"
    assert config.local_signing_key_file == "/tmp/key.json"
    assert config.storage_public_url == "http://localhost:4443"
    assert config.default_ops == ("grayscale", "blur_faces")
    assert config.delete_originals is True
    # A longer lifetime than the cap is cut to the cap.
    assert config.url_ttl_seconds == MAX_URL_TTL_SECONDS
    with pytest.raises(ConfigError, match="DELETE_ORIGINALS"):
        Config.from_env({**BASE_ENV, "DELETE_ORIGINALS": "maybe"})


def test_the_settings_tables_in_the_docs_state_the_code_defaults() -> None:
    defaults = _defaults()
    jobs_md = (ROOT / "docs" / "JOBS.md").read_text()
    for variable, value in (
        ("DEFAULT_OPS", ",".join(defaults.default_ops)),
        ("DELETE_ORIGINALS", str(defaults.delete_originals).lower()),
        ("LEASE_SECONDS", defaults.lease_seconds),
        ("MAX_ATTEMPTS", defaults.max_attempts),
        ("JOB_TTL_DAYS", defaults.job_ttl_days),
    ):
        assert f"| `{variable}` | `{value}` |" in jobs_md, variable
    api_md = (ROOT / "docs" / "API.md").read_text()
    for row in (
        f"| `RATE_LIMIT_PER_MINUTE`, `RATE_LIMIT_BURST` | {defaults.rate_limit_per_minute}, "
        f"{defaults.rate_limit_burst} |",
        f"| `RATE_LIMIT_READS_PER_MINUTE`, `RATE_LIMIT_READS_BURST` | "
        f"{defaults.rate_limit_reads_per_minute}, {defaults.rate_limit_reads_burst} |",
        f"| `TRUSTED_PROXY_HOPS` | {defaults.trusted_proxy_hops} |",
    ):
        assert row in api_md, row
