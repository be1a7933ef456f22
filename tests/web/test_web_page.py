"""The page in a real browser: languages, choosing files, client-side checks, accessibility,
phone width. The API here is tests/web/fake_api.py; the real stack is in test_web_stack.py."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from playwright.sync_api import BrowserContext, Page, expect

from tests.web.fake_api import FakeApi
from tests.web.pagekit import ROOT, big_file, expect_message, open_page, set_file

Serve = Callable[[dict[str, Any] | None], str]
NewContext = Callable[..., BrowserContext]


def small_jpeg() -> bytes:
    img = np.full((60, 80, 3), 128, np.uint8)
    ok, buf = cv2.imencode(".jpg", img)
    assert ok
    return bytes(buf)


def test_language_follows_browser_and_switch_is_remembered(
    serve_page: Serve, fake_api: FakeApi, new_context: NewContext
) -> None:
    url = serve_page({"api_base": fake_api.base})

    page, errors = open_page(new_context(locale="ja-JP"), url)
    assert page.get_attribute("html", "lang") == "ja"
    expect(page.locator("h1")).to_have_text("画像加工くん")
    expect(page.locator("label[for=file-input]")).to_have_text("写真を選ぶ…")
    expect(page.locator("button[data-lang=ja]")).to_have_attribute("aria-pressed", "true")
    assert "画像加工くん" in page.title()

    page.click("button[data-lang=en]")
    assert page.get_attribute("html", "lang") == "en"
    expect(page.locator("h1")).to_have_text("gazokako")
    expect(page.locator("#op-mosaic + label")).to_have_text("Mosaic")
    expect(page.locator("button[data-lang=en]")).to_have_attribute("aria-pressed", "true")
    # The choice outlives a reload, whatever the browser prefers.
    page.reload()
    page.wait_for_selector("body[data-ready=true]", state="attached")
    expect(page.locator("h1")).to_have_text("gazokako")
    assert errors == []

    page, errors = open_page(new_context(locale="en-GB"), url)
    expect(page.locator("h1")).to_have_text("gazokako")
    page, errors = open_page(new_context(locale="fr-FR"), url)
    assert page.get_attribute("html", "lang") == "en"
    assert errors == []


def test_a_chosen_folder_becomes_one_job_per_photo_inside_it(
    serve_page: Serve, fake_api: FakeApi, new_context: NewContext, tmp_path: Path
) -> None:
    folder = tmp_path / "trip"
    (folder / "day2").mkdir(parents=True)
    (folder / "beach.jpg").write_bytes(small_jpeg())
    (folder / "day2" / "dinner.jpg").write_bytes(small_jpeg())
    (folder / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    url = serve_page({"api_base": fake_api.base})
    page, errors = open_page(new_context(locale="en-US"), url)
    expect(page.locator("#folder-label")).to_have_text("Choose a folder…")

    page.set_input_files("#folder-input", folder)
    expect(page.locator("#batch-section")).to_be_visible()
    expect(page.locator("#batch-list > li")).to_have_count(2)
    shown = sorted(
        t.split(" — ")[0] for t in page.locator("#batch-list .batch-name").all_inner_texts()
    )
    assert shown == ["beach.jpg", "dinner.jpg"]  # the subfolder's photo too; no system file
    expect(page.locator("#start-button")).to_be_enabled()
    assert errors == []


def test_wrong_type_too_large_and_empty_are_refused_before_any_request(
    serve_page: Serve, fake_api: FakeApi, new_context: NewContext, tmp_path: Path
) -> None:
    url = serve_page({"api_base": fake_api.base})
    page, errors = open_page(new_context(locale="en-US"), url)

    set_file(page, "notes.txt", "text/plain", b"hello")
    expect_message(page, "err.wrong_type")
    expect(page.locator("#message-text")).to_contain_text("notes.txt")
    expect(page.locator("#message-text")).to_contain_text("JPEG, PNG, WebP, HEIC or AVIF")
    expect(page.locator("#start-button")).to_be_disabled()

    set_file(page, "scan.gif", "image/gif", b"GIF89a")
    expect_message(page, "err.wrong_type")

    page.set_input_files("#file-input", big_file(tmp_path, "huge.jpg", 20_000_001))
    expect_message(page, "err.too_large")
    expect(page.locator("#message-text")).to_contain_text("20 MB")
    expect(page.locator("#start-button")).to_be_disabled()

    set_file(page, "empty.png", "image/png", b"")
    expect_message(page, "err.empty")

    # In Japanese too.
    page.click("button[data-lang=ja]")
    expect(page.locator("#message-text")).to_contain_text("空のファイル")

    # A good file clears the message and enables the button.
    set_file(page, "ok.jpg", "image/jpeg", small_jpeg())
    expect(page.locator("#message")).to_be_hidden()
    expect(page.locator("#start-button")).to_be_enabled()
    expect(page.locator("#preview-dims")).to_have_text("80 × 60 ピクセル")
    # Nothing to do is refused too.
    page.check("#op-none")
    page.click("#start-button")
    expect_message(page, "err.no_op")
    assert fake_api.requests == []
    assert errors == []


def _drop_or_paste(page: Page, kind: str, name: str, data: bytes, mime: str) -> None:
    page.evaluate(
        """([kind, name, bytes, mime]) => {
            const file = new File([new Uint8Array(bytes)], name, { type: mime });
            const dt = new DataTransfer();
            dt.items.add(file);
            const init = { bubbles: true, cancelable: true };
            if (kind.startsWith("drop")) {
                const zone = kind === "drop" ? document.getElementById("drop-zone") : document.body;
                zone.dispatchEvent(new DragEvent("dragover", { dataTransfer: dt, ...init }));
                zone.dispatchEvent(new DragEvent("drop", { dataTransfer: dt, ...init }));
            } else {
                document.dispatchEvent(new ClipboardEvent("paste", { clipboardData: dt, ...init }));
            }
        }""",
        [kind, name, list(data), mime],
    )


def test_drag_and_drop_and_paste_choose_the_photo(
    serve_page: Serve, fake_api: FakeApi, new_context: NewContext
) -> None:
    url = serve_page({"api_base": fake_api.base})
    page, errors = open_page(new_context(), url)
    jpeg = small_jpeg()

    _drop_or_paste(page, "drop", "dropped.jpg", jpeg, "image/jpeg")
    expect(page.locator("#preview-info")).to_contain_text("dropped.jpg")
    expect(page.locator("#preview-dims")).to_have_text("80 × 60 px")
    expect(page.locator("#start-button")).to_be_enabled()

    _drop_or_paste(page, "paste", "image.png", jpeg, "image/jpeg")
    # A pasted screenshot gets a name of its own.
    expect(page.locator("#preview-info")).to_contain_text("pasted.jpg")

    # A photo that misses the zone is taken too, not opened in place of the page.
    _drop_or_paste(page, "drop-page", "missed.jpg", jpeg, "image/jpeg")
    expect(page.locator("#preview-info")).to_contain_text("missed.jpg")

    _drop_or_paste(page, "drop", "movie.mp4", b"\0\0\0\x18ftypmp42", "video/mp4")
    expect_message(page, "err.wrong_type")
    expect(page.locator("#start-button")).to_be_disabled()
    assert errors == []


def test_missing_config_is_explained(serve_page: Serve, new_context: NewContext) -> None:
    url = serve_page(None)
    page = new_context(locale="ja-JP").new_page()
    page.goto(url)
    expect_message(page, "err.config")
    expect(page.locator("#message-text")).to_contain_text("config.json")
    expect(page.locator("#file-input")).to_be_disabled()


def test_keyboard_only_path_and_accessibility_checks(
    serve_page: Serve, fake_api: FakeApi, new_context: NewContext, axe_source: str
) -> None:
    url = serve_page({"api_base": fake_api.base, "poll_interval_ms": 100})
    page, errors = open_page(new_context(), url)

    # Tab order: skip link, the two language buttons, then the file chooser.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.dataset.lang") == "ja"
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "file-input"
    # The hidden input's label shows the focus ring.
    outline = page.evaluate(
        "getComputedStyle(document.querySelector('label[for=file-input]')).outlineStyle"
    )
    assert outline == "solid"

    set_file(page, "me.jpg", "image/jpeg", small_jpeg())
    page.focus("#op-mosaic")
    page.keyboard.press("ArrowDown")  # radio group: arrow keys move the choice
    assert page.evaluate("document.querySelector('input[name=faces]:checked').value") == (
        "blur_faces"
    )
    page.focus("#op-grayscale")
    page.keyboard.press("Space")
    assert page.is_checked("#op-grayscale")
    page.focus("#start-button")
    page.keyboard.press("Enter")

    expect(page.locator("#result-section")).to_be_visible()
    # Focus moves to the result so screen readers and keyboards land on it.
    assert page.evaluate("document.activeElement.id") == "result-heading"
    assert fake_api.uploads[0]["ops"] == ["grayscale", "blur_faces"]
    # Dragging on the picture moves the divider as well.
    box = page.locator("#compare").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.8, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.25, box["y"] + box["height"] / 2, steps=5)
    page.mouse.up()
    assert page.input_value("#compare-slider") == "25"
    page.focus("#compare-slider")
    page.keyboard.press("End")
    assert page.evaluate("document.getElementById('compare-after-clip').style.clipPath") == (
        "inset(0px 0px 0px 100%)"
    )

    page.add_script_tag(content=axe_source)
    for lang in ("en", "ja"):
        page.click(f"button[data-lang={lang}]")
        report = page.evaluate(
            """async () => {
                const r = await axe.run(document, {
                    runOnly: { type: "tag", values: [
                        "wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] },
                });
                return r.violations.map(v => ({ id: v.id, impact: v.impact,
                    nodes: v.nodes.map(n => n.target.join(" ")) }));
            }"""
        )
        assert report == [], json.dumps(report, indent=1)
    assert errors == []


def test_phone_width_has_no_sideways_scrolling(
    serve_page: Serve, fake_api: FakeApi, new_context: NewContext
) -> None:
    url = serve_page({"api_base": fake_api.base, "poll_interval_ms": 100})
    for locale in ("ja-JP", "en-US"):
        page, errors = open_page(new_context(locale=locale, phone=True), url)
        assert page.evaluate("window.innerWidth") == 375
        set_file(
            page,
            "a-rather-long-file-name-from-a-phone-camera-IMG_20261124.jpg",
            "image/jpeg",
            small_jpeg(),
        )
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        box = page.locator("#start-button").bounding_box()
        assert box is not None
        assert box["x"] >= 0 and box["x"] + box["width"] <= 375
        assert box["height"] >= 44  # a comfortable touch target
        page.tap("#start-button")
        expect(page.locator("#result-section")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        for selector in ("#download-button", "#delete-button", "#compare"):
            b = page.locator(selector).bounding_box()
            assert b is not None
            assert b["x"] >= 0 and b["x"] + b["width"] <= 375, selector
        # A finger dragged sideways on the picture moves the divider.
        page.locator("#compare").scroll_into_view_if_needed()
        b = page.locator("#compare").bounding_box()
        assert b is not None
        y = b["y"] + b["height"] / 2
        cdp = page.context.new_cdp_session(page)
        for kind, x in (("touchStart", 0.7), ("touchMove", 0.5), ("touchMove", 0.3)):
            point = {"x": b["x"] + b["width"] * x, "y": y}
            cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [point]})
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
        page.wait_for_function("() => document.getElementById('compare-slider').value === '30'")
        # A finger swiped upwards on the picture still scrolls the page.
        before = page.evaluate("window.scrollY")
        x = b["x"] + b["width"] / 2
        for kind, dy in (("touchStart", 0), ("touchMove", -60), ("touchMove", -120)):
            point = {"x": x, "y": y + dy}
            cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [point]})
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
        page.wait_for_function(f"() => window.scrollY > {before}")
        # ... and leaves the divider where it was.
        assert page.input_value("#compare-slider") == "30"
        assert errors == []


def test_page_runs_under_the_production_content_security_policy(
    serve_page: Callable[..., str], fake_api: FakeApi, new_context: NewContext
) -> None:
    hosting = json.loads((ROOT / "infra" / "firebase.json").read_text())
    csp = next(
        h["value"]
        for rule in hosting["hosting"]["headers"]
        for h in rule["headers"]
        if h["key"] == "Content-Security-Policy"
    )
    # The same policy, with the fake standing in for the API and storage hosts.
    local = csp.replace("img-src 'self'", f"img-src 'self' {fake_api.base}").replace(
        "connect-src 'self'", f"connect-src 'self' {fake_api.base}"
    )
    url = serve_page(
        {"api_base": fake_api.base, "poll_interval_ms": 100},
        {"Content-Security-Policy": local},
    )
    context = new_context()
    context.add_init_script(
        """window.cspViolations = [];
        document.addEventListener("securitypolicyviolation",
            (e) => window.cspViolations.push(e.violatedDirective + " " + e.blockedURI));"""
    )
    page, errors = open_page(context, url)
    set_file(page, "me.jpg", "image/jpeg", small_jpeg())
    page.click("#start-button")
    expect(page.locator("#result-section")).to_be_visible()
    page.wait_for_function("() => document.getElementById('compare-after').naturalWidth === 64")
    page.fill("#compare-slider", "30")
    with page.expect_download():
        page.click("#download-button")
    # Checking the faces: the original from a blob: URL, boxes placed through the CSSOM.
    page.click("#review-open")
    page.wait_for_function("() => document.getElementById('review-img').naturalWidth === 80")
    page.evaluate("document.getElementById('review-stage').scrollIntoView({ block: 'center' })")
    b = page.locator("#review-stage").bounding_box()
    assert b is not None
    page.mouse.move(b["x"] + b["width"] * 0.5, b["y"] + b["height"] * 0.5)
    page.mouse.down()
    page.mouse.move(b["x"] + b["width"] * 0.8, b["y"] + b["height"] * 0.9, steps=4)
    page.mouse.up()
    expect(page.locator("#review-boxes .review-box")).to_have_count(3)
    page.click("#review-apply")
    expect(page.locator("#faces-count")).to_contain_text("You checked the faces")
    page.click("button[data-lang=ja]")
    assert page.evaluate("window.cspViolations") == []
    assert errors == []
