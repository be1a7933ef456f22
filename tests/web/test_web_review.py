"""The "check the faces" review in a real browser against tests/web/fake_api.py, which speaks the
revisions contract (POST /jobs/{id}/revisions): release and draw with a mouse, the keyboard's
way, Apply and the new result, a second Apply of the same set, a closed review (410), phone
width with touch, both languages, axe. The real stack's version is in test_web_stack.py."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
from playwright.sync_api import BrowserContext, Page, expect

from tests.imaging import fixtures as fx
from tests.web.fake_api import FakeApi
from tests.web.pagekit import expect_message, open_page, set_file

Serve = Callable[[dict[str, Any] | None], str]
NewContext = Callable[..., BrowserContext]

W, H = 400, 300  # the photo; the fake's detector puts 60 px boxes at (2, 50) and (202, 50)
FACE_1 = {"x": 2, "y": 50, "w": 60, "h": 60}
FACE_2 = {"x": 202, "y": 50, "w": 60, "h": 60}
BOXES = "#review-boxes .review-box"


def photo() -> bytes:
    yy, xx = np.mgrid[0:H, 0:W]
    img = np.dstack([xx * 255 // W, yy * 255 // H, np.full((H, W), 90)]).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", img)
    assert ok
    return bytes(buf)


def finished(page: Page) -> None:
    set_file(page, "party.jpg", "image/jpeg", photo())
    page.click("#start-button")
    expect(page.locator("#result-section")).to_be_visible()


def open_review(page: Page) -> None:
    page.click("#review-open")
    expect(page.locator("#review-section")).to_be_visible()
    expect(page.locator("#result-section")).to_be_hidden()
    # The photo drawn is the original the person picked, from their own device.
    assert (page.get_attribute("#review-img", "src") or "").startswith("blob:")
    page.wait_for_function("() => document.getElementById('review-img').naturalWidth === 400")
    # The whole photo on screen, so that every pointer position below lands on it.
    page.evaluate("document.getElementById('review-stage').scrollIntoView({ block: 'center' })")


def stage(page: Page) -> dict[str, float]:
    box = page.locator("#review-stage").bounding_box()
    assert box is not None
    return box


def at(page: Page, x: float, y: float) -> tuple[float, float]:
    """A source pixel's place on the screen."""
    s = stage(page)
    return s["x"] + x * s["width"] / W, s["y"] + y * s["height"] / H


def centre(page: Page, n: int) -> tuple[float, float]:
    b = page.locator(BOXES).nth(n - 1).bounding_box()
    assert b is not None
    return b["x"] + b["width"] / 2, b["y"] + b["height"] / 2


def states(page: Page) -> list[str]:
    return [s or "" for s in page.locator(BOXES).evaluate_all("bs => bs.map(b => b.dataset.state)")]


def drag(page: Page, a: tuple[float, float], b: tuple[float, float]) -> None:
    page.mouse.move(*a)
    page.mouse.down()
    page.mouse.move(*b, steps=6)
    page.mouse.up()


def near(box: dict[str, int], expected: dict[str, int], slack: int = 3) -> bool:
    return all(abs(box[k] - expected[k]) <= slack for k in ("x", "y", "w", "h"))


def axe_violations(page: Page) -> list[dict[str, Any]]:
    report: list[dict[str, Any]] = page.evaluate(
        """async () => {
            const r = await axe.run(document, {
                runOnly: { type: "tag", values: [
                    "wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] },
            });
            return r.violations.map(v => ({ id: v.id, impact: v.impact,
                nodes: v.nodes.map(n => n.target.join(" ")) }));
        }"""
    )
    return report


def test_release_a_face_draw_a_missed_one_apply_and_apply_again(
    serve_page: Serve, fake_api: FakeApi, new_context: NewContext
) -> None:
    fake_api.scenario.review_until = "2099-01-01T14:05:00Z"
    url = serve_page({"api_base": fake_api.base, "poll_interval_ms": 100})
    page, errors = open_page(new_context(timezone="Asia/Tokyo"), url)
    finished(page)
    expect(page.locator("#faces-count")).to_have_text("2 faces were found.")
    expect(page.locator("#review-note")).to_contain_text("You can check the faces until 23:05")

    open_review(page)
    expect(page.locator("#review-until")).to_contain_text("until 23:05")
    expect(page.locator(BOXES)).to_have_count(2)
    expect(page.locator(BOXES).nth(0)).to_have_attribute("aria-label", "Face 1: hidden")
    expect(page.locator(f"{BOXES} .review-num")).to_have_text(["1", "2"])
    expect(page.locator("#review-summary")).to_have_text("2 faces hidden, 0 released.")
    # The boxes sit on the photo where the API measured them (source pixels, scaled).
    b = page.locator(BOXES).nth(1).bounding_box()
    assert b is not None
    x, y = at(page, FACE_2["x"], FACE_2["y"])
    assert abs(b["x"] - x) < 2 and abs(b["y"] - y) < 2

    # A click releases a face, with the plain warning; a second click keeps it; a third releases.
    page.mouse.click(*centre(page, 2))
    assert states(page) == ["hidden", "released"]
    expect(page.locator("#review-summary")).to_have_text(
        "1 face hidden, 1 released. Face 2 will be visible in the result."
    )
    expect(page.locator(BOXES).nth(1)).to_have_attribute(
        "aria-label", "Face 2: released, this face will be visible in the result"
    )
    page.mouse.click(*centre(page, 2))
    assert states(page) == ["hidden", "hidden"]
    page.mouse.click(*centre(page, 2))
    assert states(page) == ["hidden", "released"]

    # A tap on the bare photo draws nothing; a drag draws a box over what the detector missed.
    page.mouse.click(*at(page, 300, 250))
    expect(page.locator(BOXES)).to_have_count(2)
    drag(page, at(page, 300, 200), at(page, 360, 260))
    expect(page.locator(BOXES)).to_have_count(3)
    added = page.locator(BOXES).nth(2)
    expect(added).to_have_attribute("aria-label", "Box 3, added by you: hidden")
    expect(page.locator("#review-summary")).to_have_text(
        "2 faces hidden, 1 released. Face 2 will be visible in the result."
    )
    # A drag may start over a box (a big false one may hide a missed face).
    drag(page, at(page, 20, 70), at(page, 50, 100))
    expect(page.locator(BOXES)).to_have_count(4)
    page.keyboard.press("Tab")  # nothing focused on the stage; just check the key does no harm
    page.locator(BOXES).nth(3).focus()
    page.keyboard.press("Delete")  # a drawn box is taken away
    expect(page.locator(BOXES)).to_have_count(3)

    page.click("#review-apply")
    expect(page.locator("#progress-section")).to_be_visible()
    expect(page.locator("#result-section")).to_be_visible()
    assert len(fake_api.revisions) == 1
    sent = fake_api.revisions[0]["boxes"]
    assert set(fake_api.revisions[0]) == {"boxes"}
    assert len(sent) == 2 and sent[0] == FACE_1
    assert near(sent[1], {"x": 300, "y": 200, "w": 60, "h": 60})
    expect(page.locator("#faces-count")).to_have_text("You checked the faces: 2 faces are hidden.")
    expect(page.locator("#status")).to_have_text("Done.")
    job = next(iter(fake_api.jobs.values()))
    assert job.revision == 1
    assert "v=" in (page.get_attribute("#compare-after", "src") or "")

    # Open again: the applied set, and the released face still there to restore.
    open_review(page)
    assert states(page) == ["hidden", "hidden", "released"]
    expect(page.locator("#review-summary")).to_have_text(
        "2 faces hidden, 1 released. Face 3 will be visible in the result."
    )
    # Apply the same set again: the same body, and the API counts one revision.
    page.click("#review-apply")
    expect(page.locator("#result-section")).to_be_visible()
    assert len(fake_api.revisions) == 2
    assert fake_api.revisions[1] == fake_api.revisions[0]
    assert job.revision == 1
    assert errors == []


def test_keyboard_review_with_visible_focus_live_summary_and_axe_in_both_languages(
    serve_page: Serve, fake_api: FakeApi, new_context: NewContext, axe_source: str
) -> None:
    url = serve_page({"api_base": fake_api.base, "poll_interval_ms": 100})
    page, errors = open_page(new_context(), url)
    finished(page)
    page.focus("#review-open")
    page.keyboard.press("Enter")
    expect(page.locator("#review-section")).to_be_visible()
    assert page.evaluate("document.activeElement.id") == "review-heading"
    expect(page.locator("#review-keys")).to_contain_text("Shift with the arrow keys")

    # Tab selects the boxes in their numbered order, with a visible focus ring.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.dataset.id") == "1"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"
    described = page.evaluate("document.activeElement.getAttribute('aria-describedby')")
    assert described == "review-keys"

    def box_style() -> dict[str, str]:
        style: dict[str, str] = page.evaluate(
            "(() => { const s = document.activeElement.style;"
            " return { left: s.left, top: s.top, width: s.width, height: s.height }; })()"
        )
        return style

    # Arrows move by 1% of the longer side (4 px of 400), Shift+arrows size.
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Shift+ArrowDown")
    style = box_style()
    assert (style["left"], style["width"]) == ("2.5%", "15%")  # x 2 -> 10, w 60 (of 400)
    assert abs(float(style["top"].rstrip("%")) - 50 / 3) < 0.01  # y 50 of 300, unchanged
    assert abs(float(style["height"].rstrip("%")) - 64 / 3) < 0.01  # h 60 -> 64

    # Delete releases, Enter and Space switch back and forth; the live region says so.
    page.keyboard.press("Delete")
    assert states(page) == ["released", "hidden"]
    expect(page.locator("#review-summary")).to_have_text(
        "1 face hidden, 1 released. Face 1 will be visible in the result."
    )
    assert page.get_attribute("#review-summary", "role") == "status"
    page.keyboard.press("Enter")
    assert states(page) == ["hidden", "hidden"]
    page.keyboard.press("Space")
    assert states(page) == ["released", "hidden"]

    # "Add a box" puts one in the middle and selects it; the keys place it.
    page.focus("#review-add")
    page.keyboard.press("Enter")
    expect(page.locator(BOXES)).to_have_count(3)
    assert page.evaluate("document.activeElement.dataset.id") == "3"
    page.keyboard.press("ArrowUp")
    page.keyboard.press("Shift+ArrowLeft")
    page.add_script_tag(content=axe_source)
    for lang in ("en", "ja"):
        page.click(f"button[data-lang={lang}]")
        assert axe_violations(page) == [], json.dumps(axe_violations(page), indent=1)
    expect(page.locator("#review-summary")).to_have_text(
        "隠す顔 2 つ、隠さない顔 1 つ。 顔 1 は結果で見えるようになります。"
    )
    expect(page.locator(BOXES).nth(0)).to_have_attribute(
        "aria-label", "顔 1：隠さない（この顔は結果で見えるようになります）"
    )
    page.click("button[data-lang=en]")

    page.focus("#review-apply")
    page.keyboard.press("Enter")
    expect(page.locator("#result-section")).to_be_visible()
    assert page.evaluate("document.activeElement.id") == "result-heading"
    # Face 1 is released; the added box: 60 px (the faces' size) centred at (170, 120), moved
    # up 4 px and made 4 px narrower.
    assert fake_api.revisions == [{"boxes": [FACE_2, {"x": 170, "y": 116, "w": 56, "h": 60}]}]
    # With a result on screen again, axe is still clean.
    for lang in ("ja", "en"):
        page.click(f"button[data-lang={lang}]")
        assert axe_violations(page) == []
    assert errors == []


def test_a_failed_render_keeps_the_result_and_a_closed_review_sends_nothing_more(
    serve_page: Serve, fake_api: FakeApi, new_context: NewContext
) -> None:
    url = serve_page({"api_base": fake_api.base, "poll_interval_ms": 100})
    page, errors = open_page(new_context(locale="ja-JP"), url)
    finished(page)
    open_review(page)
    expect(page.locator("#review-heading")).to_have_text("顔を確認する")
    page.mouse.click(*centre(page, 1))

    # The render fails: the previous result stays, with the reason and a way to try again.
    fake_api.scenario.revision_failure = "corrupt"
    page.click("#review-apply")
    expect_message(page, "err.revision_failed")
    expect(page.locator("#message-text")).to_contain_text("corrupt")
    expect(page.locator("#result-section")).to_be_visible()
    expect(page.locator("#faces-count")).to_have_text("顔が 2 つ見つかりました。")
    fake_api.scenario.revision_failure = None
    page.click("#message-actions button[data-action='action.retry']")
    expect(page.locator("#faces-count")).to_have_text("顔を確認しました：顔を 1 つ隠しています。")
    assert fake_api.revisions == [{"boxes": [FACE_2]}] * 2
    job = next(iter(fake_api.jobs.values()))
    assert job.revision == 2

    # The window closes (410): the page says so and nothing more can be sent.
    page.click("#review-open")
    expect(page.locator("#review-section")).to_be_visible()
    fake_api.scenario.revision_refusal = (410, "review_closed")
    page.mouse.click(*centre(page, 1))
    page.click("#review-apply")
    expect_message(page, "err.review_closed")
    expect(page.locator("#message-text")).to_contain_text("元の写真はすでに削除")
    expect(page.locator("#review-closed")).to_be_visible()
    expect(page.locator("#review-apply")).to_be_disabled()
    expect(page.locator("#review-add")).to_be_disabled()
    # Nothing can be changed any more, by pointer or key.
    assert states(page) == ["released", "released"]  # face 2; face 1 was released before
    page.mouse.click(*centre(page, 2))
    page.locator(BOXES).nth(1).focus()
    page.keyboard.press("Enter")
    assert states(page) == ["released", "released"]
    page.click("button[data-lang=en]")
    expect(page.locator("#review-closed")).to_contain_text("can no longer be changed")
    page.click("#message-actions button[data-action='review.cancel']")
    expect(page.locator("#result-section")).to_be_visible()
    expect(page.locator("#review-open")).to_be_hidden()
    expect(page.locator("#review-note")).to_have_text(
        "Checking the faces is closed: your original photo has been deleted."
    )
    assert len(fake_api.revisions) == 3

    # A job whose window has already ended offers no review at all, nor does one whose
    # original is not kept (review_until null: REVIEW_WINDOW_SECONDS 0, or swept).
    fake_api.scenario.review_until = "2026-01-01T00:00:00Z"
    page.click("#again-button")
    finished(page)
    expect(page.locator("#review-open")).to_be_hidden()
    expect(page.locator("#review-note")).to_contain_text("closed")
    fake_api.scenario.review_until = None
    page.click("#again-button")
    finished(page)
    expect(page.locator("#review-open")).to_be_hidden()
    expect(page.locator("#review-note")).to_have_text(
        "Checking the faces is closed: your original photo has been deleted."
    )
    assert errors == []


def test_review_at_phone_width_with_touch_in_japanese(
    serve_page: Serve, fake_api: FakeApi, new_context: NewContext
) -> None:
    url = serve_page({"api_base": fake_api.base, "poll_interval_ms": 100})
    page, errors = open_page(new_context(locale="ja-JP", phone=True), url)
    finished(page)
    expect(page.locator("#review-open")).to_have_text("顔を確認する")
    page.tap("#review-open")
    expect(page.locator("#review-section")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    for selector in ("#review-stage", "#review-apply", "#review-add", "#review-cancel"):
        b = page.locator(selector).bounding_box()
        assert b is not None and b["x"] >= 0 and b["x"] + b["width"] <= 375, selector
    for selector in ("#review-apply", "#review-add"):
        b = page.locator(selector).bounding_box()
        assert b is not None and b["height"] >= 44, selector
    page.evaluate("document.getElementById('review-stage').scrollIntoView({ block: 'center' })")

    # A tap releases a face; a finger drag draws a box.
    page.touchscreen.tap(*centre(page, 1))
    assert states(page) == ["released", "hidden"]
    expect(page.locator("#review-summary")).to_contain_text("顔 1 は結果で見えるようになります")
    cdp = page.context.new_cdp_session(page)
    start, end = at(page, 250, 180), at(page, 330, 270)
    steps = [("touchStart", start), ("touchMove", at(page, 290, 220)), ("touchMove", end)]
    for kind, (x, y) in steps:
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [{"x": x, "y": y}]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    expect(page.locator(BOXES)).to_have_count(3)
    expect(page.locator("#review-summary")).to_contain_text("隠す顔 2 つ、隠さない顔 1 つ。")

    page.tap("#review-apply")
    expect(page.locator("#result-section")).to_be_visible()
    expect(page.locator("#faces-count")).to_have_text("顔を確認しました：顔を 2 つ隠しています。")
    sent = fake_api.revisions[0]["boxes"]
    assert len(sent) == 2 and sent[0] == FACE_2
    assert near(sent[1], {"x": 250, "y": 180, "w": 80, "h": 90}, slack=4)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    text = page.locator("#review-note").inner_text()
    assert re.search(r"\d\d:\d\d まで顔を確認できます", text), text
    assert errors == []


def test_a_photo_the_browser_cannot_draw_is_reviewed_over_the_result(
    serve_page: Serve, fake_api: FakeApi, new_context: NewContext
) -> None:
    url = serve_page({"api_base": fake_api.base, "poll_interval_ms": 100})
    page, errors = open_page(new_context(), url)
    # Chromium cannot draw HEIC; the fake cannot read it either, so the sizes are its result's.
    set_file(page, "IMG_0001.HEIC", "image/heic", b"\0\0\0\x18ftypheic" + bytes(64))
    expect(page.locator("#preview-unavailable")).to_be_visible()
    page.click("#start-button")
    expect(page.locator("#result-section")).to_be_visible()
    page.click("#review-open")
    expect(page.locator("#review-section")).to_be_visible()
    assert (page.get_attribute("#review-img", "src") or "").startswith(fake_api.base)
    expect(page.locator("#review-fallback")).to_have_text(
        "This browser cannot show your original HEIC photo, so the boxes are drawn over the "
        "result. A released face is visible only once you apply."
    )
    expect(page.locator(BOXES)).to_have_count(2)
    assert errors == []


def test_a_turned_photo_is_reviewed_upright_as_the_api_measures_it(
    serve_page: Serve, fake_api: FakeApi, new_context: NewContext
) -> None:
    # Stored 400 x 300 with EXIF orientation 6: upright it is 300 x 400, for the API (the fake
    # reads it as the service does) and for the browser, which draws it turned.
    yy, xx = np.mgrid[0:H, 0:W]
    stored = np.dstack([xx * 255 // W, yy * 255 // H, np.full((H, W), 90)]).astype(np.uint8)
    url = serve_page({"api_base": fake_api.base, "poll_interval_ms": 100})
    page, errors = open_page(new_context(), url)
    set_file(page, "turned.jpg", "image/jpeg", fx.jpeg_with_metadata(stored, orientation=6))
    page.click("#start-button")
    expect(page.locator("#result-section")).to_be_visible()
    page.click("#review-open")
    page.wait_for_function("() => document.getElementById('review-img').naturalWidth === 300")
    assert page.evaluate("document.getElementById('review-img').naturalHeight") == 400
    page.evaluate("document.getElementById('review-stage').scrollIntoView({ block: 'center' })")
    s = stage(page)
    assert abs(s["width"] / s["height"] - 0.75) < 0.01

    def upright(x: float, y: float) -> tuple[float, float]:
        return s["x"] + x * s["width"] / 300, s["y"] + y * s["height"] / 400

    # The fake's detector boxes (upright pixels) sit where they should on the drawn photo.
    job = next(iter(fake_api.jobs.values()))
    box = fake_api.detected(job)[1]
    b = page.locator(BOXES).nth(1).bounding_box()
    assert b is not None
    x, y = upright(box["x"], box["y"])
    assert abs(b["x"] - x) < 2 and abs(b["y"] - y) < 2
    drag(page, upright(150, 300), upright(210, 370))
    page.click("#review-apply")
    expect(page.locator("#faces-count")).to_contain_text("You checked the faces")
    drawn = fake_api.revisions[0]["boxes"][-1]
    assert near(drawn, {"x": 150, "y": 300, "w": 60, "h": 70})
    assert errors == []
