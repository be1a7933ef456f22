"""Faults the real stack cannot be made to produce, driven through tests/web/fake_api.py:
slow storage (real progress events), expired links, dropped connections, a job that never
finishes, rate limiting, a server-side size refusal and a failed detector."""

from __future__ import annotations

import re
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from playwright.sync_api import BrowserContext, Page, expect

from tests.web.fake_api import FakeApi
from tests.web.pagekit import big_file, expect_message, open_page, set_file

Serve = Callable[[dict[str, Any] | None], str]
NewContext = Callable[..., BrowserContext]


def noisy_jpeg(side: int) -> bytes:
    """A JPEG that stays big: random pixels do not compress."""
    rng = np.random.default_rng(7)
    ok, buf = cv2.imencode(".jpg", rng.integers(0, 256, (side, side, 3), np.uint8))
    assert ok
    return bytes(buf)


def start(page: Page, data: bytes, name: str = "photo.jpg") -> None:
    set_file(page, name, "image/jpeg", data)
    page.click("#start-button")


def test_upload_sends_exact_headers_and_shows_real_progress(
    serve_page: Serve, fake_api: FakeApi, new_context: NewContext, tmp_path: Path
) -> None:
    # Larger than the kernel's and the browser's send buffers (4 MB here), so that progress
    # can only advance as fast as the slow storage reads. The page does not look inside.
    photo = big_file(tmp_path, "photo.jpg", 12_000_000)
    fake_api.scenario.put_read_chunk = 256 * 1024
    fake_api.scenario.put_read_delay_s = 0.025
    url = serve_page({"api_base": fake_api.base, "poll_interval_ms": 100})
    page, errors = open_page(new_context(), url)
    page.set_input_files("#file-input", photo)
    page.evaluate(
        """() => {
            window.progressSeen = [];
            const bar = document.getElementById("upload-progress");
            new MutationObserver(() => window.progressSeen.push(Number(bar.value)))
                .observe(bar, { attributes: true, attributeFilter: ["value"] });
        }"""
    )
    page.click("#start-button")
    expect(page.locator("#result-section")).to_be_visible()

    seen: list[float] = page.evaluate("window.progressSeen")
    middle = [v for v in seen if 0 < v < 100]
    # The storage read slowly, so the bar must have stopped at several points on the way.
    assert len(set(middle)) >= 3, seen
    assert seen == sorted(seen) and seen[-1] == 100
    expect(page.locator("#upload-pct")).to_contain_text("100%")

    assert fake_api.uploads == [
        {
            "filename": "photo.jpg",
            "content_type": "image/jpeg",
            "size": 12_000_000,
            "ops": ["mosaic_faces"],
            "options": {"format": "jpeg"},  # automatic: a JPEG stays JPEG
        }
    ]
    headers = fake_api.put_headers[0]
    assert headers["content-type"] == "image/jpeg"
    assert headers["x-goog-content-length-range"] == "12000000,12000000"
    assert fake_api.put_bodies == [12_000_000]
    expect(page.locator("#faces-count")).to_have_text("2 faces were found.")
    expect(page.locator("#result-size")).to_contain_text("64 × 48 px")
    assert errors == []


def test_expired_upload_link_is_explained_and_retry_makes_a_new_one(
    serve_page: Serve, fake_api: FakeApi, new_context: NewContext
) -> None:
    fake_api.scenario.put_mode = "expired"
    url = serve_page({"api_base": fake_api.base, "poll_interval_ms": 100})
    page, errors = open_page(new_context(locale="ja-JP"), url)
    start(page, noisy_jpeg(64))
    expect_message(page, "err.upload_expired")
    expect(page.locator("#message-text")).to_contain_text("期限が切れました")
    # The file and the choices are still there; retrying makes a fresh link.
    fake_api.scenario.put_mode = "ok"
    page.click("#message-actions button[data-action='action.retry']")
    expect(page.locator("#result-section")).to_be_visible()
    assert fake_api.count("POST", "/uploads") == 2
    # The abandoned job was removed, not left behind.
    assert fake_api.deleted == ["fakejob0001"]
    assert errors == []


def test_connection_lost_during_upload(
    serve_page: Serve, fake_api: FakeApi, new_context: NewContext
) -> None:
    fake_api.scenario.put_mode = "drop"
    url = serve_page({"api_base": fake_api.base})
    page, errors = open_page(new_context(), url)
    start(page, noisy_jpeg(800))
    expect_message(page, "err.upload_network")
    expect(page.locator("#message-text")).to_contain_text("connection")
    expect(page.locator("#start-button")).to_be_enabled()
    assert errors == []


def test_api_unreachable_is_a_network_error(
    serve_page: Serve, fake_api: FakeApi, new_context: NewContext
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    url = serve_page({"api_base": f"http://127.0.0.1:{closed_port}"})
    page, errors = open_page(new_context(locale="ja-JP"), url)
    start(page, noisy_jpeg(64))
    expect_message(page, "err.network")
    expect(page.locator("#message-text")).to_contain_text("接続できませんでした")
    expect(page.locator("#message-actions button")).to_have_text("もう一度試す")
    assert errors == []


def test_processing_timeout_offers_to_keep_waiting(
    serve_page: Serve, fake_api: FakeApi, new_context: NewContext
) -> None:
    fake_api.scenario.stuck = True
    url = serve_page(
        {"api_base": fake_api.base, "poll_interval_ms": 200, "processing_timeout_s": 2}
    )
    page, errors = open_page(new_context(), url)
    start(page, noisy_jpeg(64))
    expect(page.locator("#status")).to_contain_text("Processing your photo")
    # The seconds tick beside the status, outside the live region.
    expect(page.locator("#status-elapsed")).to_have_text(re.compile(r"^[1-9]\d* s so far$"))
    expect_message(page, "err.processing_timeout")
    expect(page.locator("#message-text")).to_contain_text("longer than expected")
    polls_at_timeout = fake_api.count("GET", "/jobs/")
    # While the message shows, the page stops polling instead of hammering the API.
    page.wait_for_timeout(600)
    assert fake_api.count("GET", "/jobs/") == polls_at_timeout

    fake_api.release()
    page.click("#message-actions button[data-action='action.wait']")
    expect(page.locator("#result-section")).to_be_visible()
    expect(page.locator("#message")).to_be_hidden()
    assert errors == []


def test_expired_result_link_is_renewed_by_reading_the_job_again(
    serve_page: Serve, fake_api: FakeApi, new_context: NewContext
) -> None:
    fake_api.scenario.expire_first_result_url = True
    url = serve_page({"api_base": fake_api.base, "poll_interval_ms": 100})
    page, errors = open_page(new_context(), url)
    start(page, noisy_jpeg(64))
    expect(page.locator("#result-section")).to_be_visible()
    page.wait_for_function(
        "document.getElementById('compare-after').complete"
        " && document.getElementById('compare-after').naturalWidth === 64"
    )
    assert page.get_attribute("#compare-after", "src", timeout=1000) is not None
    assert "v=2" in (page.get_attribute("#compare-after", "src") or "")
    expect(page.locator("#message")).to_be_hidden()

    # Download uses the fresh link and gets the result's bytes.
    with page.expect_download() as info:
        page.click("#download-button")
    path = info.value.path()
    assert path is not None
    assert path.read_bytes() == fake_api.png
    assert info.value.suggested_filename == "photo-gazokako.png"
    assert errors == []


def test_result_link_that_stays_expired_is_explained(
    serve_page: Serve, fake_api: FakeApi, new_context: NewContext
) -> None:
    url = serve_page({"api_base": fake_api.base, "poll_interval_ms": 100})
    page, errors = open_page(new_context(), url)
    # Every result link is refused, as if the clock ran past each link's expiry.
    page.route("**/results/**", lambda route: route.fulfill(status=400, body="ExpiredToken"))
    start(page, noisy_jpeg(64))
    expect_message(page, "err.result_expired")
    page.unroute("**/results/**")
    page.click("#message-actions button[data-action='action.reload_result']")
    page.wait_for_function("document.getElementById('compare-after').naturalWidth === 64")
    expect(page.locator("#message")).to_be_hidden()
    assert errors == []


def test_rate_limit_and_server_side_size_refusal(
    serve_page: Serve, fake_api: FakeApi, new_context: NewContext
) -> None:
    url = serve_page({"api_base": fake_api.base})
    page, errors = open_page(new_context(), url)
    fake_api.scenario.create_status = 429
    start(page, noisy_jpeg(64))
    expect_message(page, "err.rate_limited")
    expect(page.locator("#message-actions button")).to_have_text(["Try again"])
    fake_api.scenario.create_status = 413
    page.click("#start-button")
    expect_message(page, "err.too_large")
    # Sending the same photo again would be refused again, so no retry is offered.
    expect(page.locator("#message-actions button")).to_have_count(0)
    assert errors == []


def test_failed_detection_explains_that_nothing_was_published(
    serve_page: Serve, fake_api: FakeApi, new_context: NewContext
) -> None:
    fake_api.scenario.final_status = "failed"
    url = serve_page({"api_base": fake_api.base, "poll_interval_ms": 100})
    page, errors = open_page(new_context(locale="ja-JP"), url)
    start(page, noisy_jpeg(64))
    expect_message(page, "err.job.detection_unavailable")
    expect(page.locator("#message-text")).to_contain_text("顔検出を実行できなかった")
    expect(page.locator("#result-section")).to_be_hidden()
    # An unknown failure code still says what the server said.
    fake_api.scenario.failure = {"code": "brand_new_code", "message": "the reason"}
    page.click("#message-actions button[data-action='action.restart']")
    start(page, noisy_jpeg(64))
    page.wait_for_selector("#message[data-key='err.job.other']")
    expect(page.locator("#message-text")).to_contain_text("the reason")
    # The photo that failed can still be deleted from the message.
    expect(page.locator("#message-actions button")).to_have_text(
        ["最初からやり直す", "写真を今すぐ削除"]
    )
    page.click("#message-actions button[data-action='result.delete']")
    expect_message(page, "deleted")
    assert fake_api.deleted == ["fakejob0002"]
    assert errors == []


def test_connection_lost_while_waiting_then_resumed_and_delete_failure(
    serve_page: Serve, fake_api: FakeApi, new_context: NewContext
) -> None:
    fake_api.scenario.polls_before_done = 2
    url = serve_page({"api_base": fake_api.base, "poll_interval_ms": 100})
    page, errors = open_page(new_context(), url)
    # The phone goes offline right after the upload: every status request fails.
    page.route("**/jobs/**", lambda route: route.abort("internetdisconnected"))
    start(page, noisy_jpeg(64))
    expect_message(page, "err.network")
    expect(page.locator("#message-actions button")).to_have_text(["Try again", "Start over"])
    page.unroute("**/jobs/**")
    page.click("#message-actions button[data-action='action.retry']")
    expect(page.locator("#result-section")).to_be_visible()
    expect(page.locator("#message")).to_be_hidden()

    page.route("**/jobs/**", lambda route: route.abort("internetdisconnected"))
    page.click("#delete-button")
    expect_message(page, "err.delete_failed")
    expect(page.locator("#message-text")).to_contain_text("Could not reach the server")
    # Nothing was lost: the result is still there and deleting can be tried again.
    expect(page.locator("#result-section")).to_be_visible()
    page.unroute("**/jobs/**")
    page.click("#delete-button")
    expect_message(page, "deleted")
    assert fake_api.deleted == ["fakejob0001"]
    assert errors == []
