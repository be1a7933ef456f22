"""CORS comes from configuration: listed origins are echoed, others get nothing, no wildcard."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from gazokako.config import Config, ConfigError

BASE_ENV = {"PROJECT_ID": "p", "UPLOADS_BUCKET": "u", "RESULTS_BUCKET": "r"}


def _page_origin(stack: dict[str, Any]) -> str:
    return str(stack["web"]).rstrip("/")


JOB = "/jobs/" + "A" * 32


@pytest.mark.parametrize("path", ["/uploads", JOB, JOB + "/revisions"])
def test_preflight_from_the_page_is_answered(api: str, stack: dict[str, Any], path: str) -> None:
    origin = _page_origin(stack)
    posts = path != JOB
    resp = requests.options(
        api + path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST" if posts else "DELETE",
            "Access-Control-Request-Headers": "content-type",
        },
        timeout=30,
    )
    assert resp.status_code == 204
    assert resp.headers["Access-Control-Allow-Origin"] == origin
    expected = {"POST", "OPTIONS"} if posts else {"GET", "DELETE", "OPTIONS"}
    assert set(resp.headers["Access-Control-Allow-Methods"].split(", ")) == expected
    assert set(resp.headers["Allow"].split(", ")) == expected
    assert resp.headers["Access-Control-Allow-Headers"].lower() == "content-type"
    assert int(resp.headers["Access-Control-Max-Age"]) > 0
    assert "Origin" in resp.headers["Vary"]
    assert "Access-Control-Allow-Credentials" not in resp.headers


def test_preflight_for_an_unknown_path_is_404(api: str, stack: dict[str, Any]) -> None:
    resp = requests.options(f"{api}/admin", headers={"Origin": _page_origin(stack)}, timeout=30)
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "null", "http://127.0.0.1", "http://localhost.evil.example"]
)
def test_other_origins_get_no_cors_headers(api: str, origin: str) -> None:
    pre = requests.options(
        f"{api}/uploads",
        headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
        timeout=30,
    )
    assert pre.status_code == 204
    assert not [h for h in pre.headers if h.lower().startswith("access-control-")]
    actual = requests.post(
        f"{api}/uploads",
        json={"content_type": "image/png", "size": 10},
        headers={"Origin": origin},
        timeout=30,
    )
    assert "Access-Control-Allow-Origin" not in actual.headers
    assert actual.headers["Vary"] == "Origin"


def test_actual_responses_and_errors_carry_cors_for_the_page(
    api: str, stack: dict[str, Any]
) -> None:
    origin = _page_origin(stack)
    ok = requests.post(
        f"{api}/uploads",
        json={"content_type": "image/png", "size": 10},
        headers={"Origin": origin},
        timeout=30,
    )
    assert ok.status_code == 201
    assert ok.headers["Access-Control-Allow-Origin"] == origin
    # The page must be able to read error bodies (413, 415, 429) and Retry-After.
    bad = requests.post(
        f"{api}/uploads",
        json={"content_type": "image/gif", "size": 10},
        headers={"Origin": origin},
        timeout=30,
    )
    assert bad.status_code == 415
    assert bad.headers["Access-Control-Allow-Origin"] == origin
    assert "Retry-After" in bad.headers["Access-Control-Expose-Headers"]
    missing = requests.get(f"{api}/jobs/nope", headers={"Origin": origin}, timeout=30)
    assert missing.headers["Access-Control-Allow-Origin"] == origin


@pytest.mark.parametrize(
    "value",
    ["*", "https://*.example.com", "example.com", "https://a.example/path", "https://a b"],
)
def test_configuration_refuses_wildcards_and_non_origins(value: str) -> None:
    with pytest.raises(ConfigError):
        Config.from_env({**BASE_ENV, "ALLOWED_ORIGINS": f"https://ok.example,{value}"})


def test_production_style_origins_are_accepted() -> None:
    config = Config.from_env(
        {
            **BASE_ENV,
            "ALLOWED_ORIGINS": "https://p-gazokako.web.app, https://p-gazokako.firebaseapp.com",
        }
    )
    assert config.allowed_origins == (
        "https://p-gazokako.web.app",
        "https://p-gazokako.firebaseapp.com",
    )
    assert Config.from_env(BASE_ENV).allowed_origins == ()
