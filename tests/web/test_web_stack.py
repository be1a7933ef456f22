"""The page against the real local stack (emulators, both functions, the Eventarc bridge):
faces come back mosaicked, grayscale, failures explained, delete, both languages, phone width.

Screenshots are written to .local/screenshots/ on every run; with GAZOKAKO_UPDATE_SCREENSHOTS=1
they also replace the committed ones in docs/screenshots/.
"""

from __future__ import annotations

import os
import re
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import requests
from playwright.sync_api import BrowserContext, Page, Response, expect

from tests.imaging import fixtures as fx
from tests.web.pagekit import ROOT, SCREENSHOTS, big_file, expect_message, open_page, set_file

pytestmark = pytest.mark.stack

NewContext = Callable[..., BrowserContext]
Picture = Callable[[str], Path]
PROCESS_WAIT_MS = 60_000


def decode(data: bytes) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None
    return img


def channel_spread(img: np.ndarray) -> int:
    """Largest difference between colour channels: 0 for gray (a JPEG may add a little)."""
    return int((img.max(axis=2).astype(int) - img.min(axis=2)).max())


def save_screenshot(page: Page, name: str) -> None:
    local = ROOT / ".local" / "screenshots" / name
    local.parent.mkdir(parents=True, exist_ok=True)
    # No hover or focus ring left over from the test's own clicks.
    page.mouse.move(0, 0)
    page.evaluate("document.activeElement?.blur()")
    page.screenshot(path=str(local), full_page=True)
    if os.environ.get("GAZOKAKO_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(local, SCREENSHOTS / name)


def run_job(page: Page, path: Path, mime: str) -> str:
    """Chooses the file, starts the job, waits for the result; returns the job id."""
    set_file(page, path.name, mime, path.read_bytes())
    with page.expect_response(lambda r: r.url.endswith("/uploads")) as created:
        page.click("#start-button")
    assert created.value.status == 201
    job_id: str = created.value.json()["id"]
    page.wait_for_selector("#result-section:not([hidden])", timeout=PROCESS_WAIT_MS)
    page.wait_for_function(
        "() => { const i = document.getElementById('compare-after');"
        " return i.complete && i.naturalWidth > 0; }"
    )
    return job_id


def displayed_result(page: Page) -> bytes:
    """The bytes behind the picture the page shows (its signed GET URL)."""
    src = page.get_attribute("#compare-after", "src")
    assert src
    resp = requests.get(src, timeout=30)
    assert resp.status_code == 200
    return resp.content


def block_edge_share(region: np.ndarray, axis: int) -> float:
    """Share of the brightness changes along `axis` that sit on the busiest 15% of lines.

    A mosaic is flat inside its blocks, so its changes sit on the block edges (about 0.8);
    a photo or a blurred face spreads them out (about 0.25). Robust to JPEG noise.
    """
    gray = region.astype(float).mean(axis=2)
    profile = np.abs(np.diff(gray, axis=axis)).mean(axis=1 - axis)
    ranked = np.sort(profile)[::-1]
    top = max(1, int(len(ranked) * 0.15))
    return float(ranked[:top].sum() / ranked.sum())


def assert_faces_mosaicked(original: np.ndarray, result: np.ndarray, job: dict[str, Any]) -> None:
    boxes = job["faces"]["boxes"]
    assert job["faces"]["count"] == len(boxes) >= 1
    near_face = np.zeros(original.shape[:2], bool)
    for box in boxes:
        x, y, w, h = (round(box[k]) for k in ("x", "y", "w", "h"))
        before = original[y : y + h, x : x + w]
        after = result[y : y + h, x : x + w]
        for axis in (0, 1):
            assert block_edge_share(before, axis) < 0.4
            assert block_edge_share(after, axis) > 0.6
        assert float(np.abs(after.astype(int) - before.astype(int)).mean()) > 10
        # Redaction pads the box, so a whole box-size margin counts as near the face.
        near_face[max(0, y - h) : y + 2 * h, max(0, x - w) : x + 2 * w] = True
    # Away from the faces the photo is the same, up to JPEG re-encoding noise.
    diff = np.abs(result.astype(int) - original.astype(int)).max(axis=2)
    assert float(diff[~near_face].mean()) < 8


def test_mosaic_on_desktop_in_english_then_download_and_delete(
    stack: dict[str, Any], new_context: NewContext, skimage_data: Picture
) -> None:
    astronaut = skimage_data("astronaut.png")
    page, errors = open_page(new_context(locale="en-US"), stack["web"])
    expect(page.locator("h1")).to_have_text("gazokako")
    expect(page.locator("#op-mosaic")).to_be_checked()

    job_id = run_job(page, astronaut, "image/png")

    job = requests.get(f"{stack['upload_api']}/jobs/{job_id}", timeout=30).json()
    assert job["status"] == "done" and job["ops"] == ["mosaic_faces"]
    count = job["faces"]["count"]
    expected = "1 face was found." if count == 1 else f"{count} faces were found."
    expect(page.locator("#faces-count")).to_have_text(expected)
    expect(page.locator("#upload-pct")).to_contain_text("100%")
    expect(page.locator("#status")).to_have_text("Done.")
    # The original is kept for the review window (REVIEW_WINDOW_SECONDS, 30 minutes here).
    assert job["review_until"]
    expect(page.locator("#review-note")).to_have_text(
        re.compile(r"You can check the faces until \d{1,2}:\d{2}; then your original is deleted\.$")
    )

    original = decode(astronaut.read_bytes())
    shown = displayed_result(page)
    assert_faces_mosaicked(original, decode(shown), job)

    with page.expect_download() as info:
        page.click("#download-button")
    path = info.value.path()
    assert path is not None
    assert path.read_bytes() == shown
    ext = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}
    assert (
        info.value.suggested_filename == f"astronaut-gazokako.{ext[job['result']['content_type']]}"
    )

    page.fill("#compare-slider", "40")
    save_screenshot(page, "desktop.png")

    page.click("#delete-button")
    expect_message(page, "deleted")
    expect(page.locator("#message-text")).to_contain_text("deleted from our storage")
    expect(page.locator("#result-section")).to_be_hidden()
    # An honest empty state where the photo was, never a broken picture.
    expect(page.locator("#preview-empty")).to_be_visible()
    expect(page.locator("#preview-empty")).to_contain_text("were deleted")
    expect(page.locator("#preview-img")).to_be_hidden()
    gone = requests.get(f"{stack['upload_api']}/jobs/{job_id}", timeout=30)
    assert gone.status_code == 404
    assert requests.get(job["result"]["url"], timeout=30).status_code != 200
    assert errors == []


def test_grayscale_and_mosaic_at_phone_width_in_japanese(
    stack: dict[str, Any], new_context: NewContext, skimage_data: Picture
) -> None:
    astronaut = skimage_data("astronaut.png")
    page, errors = open_page(new_context(locale="ja-JP", phone=True), stack["web"])
    expect(page.locator("h1")).to_have_text("画像加工くん")
    page.tap("label[for=op-grayscale]")
    job_id = run_job(page, astronaut, "image/png")

    job = requests.get(f"{stack['upload_api']}/jobs/{job_id}", timeout=30).json()
    assert job["ops"] == ["grayscale", "mosaic_faces"]
    expect(page.locator("#faces-count")).to_contain_text("顔が")
    expect(page.locator("#status")).to_have_text("完了しました。")
    expect(page.locator("#review-note")).to_have_text(
        re.compile(r"\d{1,2}:\d{2} まで顔を確認できます。その後、元の写真は削除されます。$")
    )
    result = decode(displayed_result(page))
    assert np.array_equal(result[..., 0], result[..., 1])
    assert np.array_equal(result[..., 1], result[..., 2])
    gray = cv2.cvtColor(
        cv2.cvtColor(decode(astronaut.read_bytes()), cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR
    )
    assert_faces_mosaicked(gray, result, job)

    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    for selector in ("#compare", "#download-button", "#delete-button"):
        box = page.locator(selector).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 375, selector
    page.fill("#compare-slider", "40")
    save_screenshot(page, "phone.png")
    assert errors == []


def test_grayscale_only_in_japanese(
    stack: dict[str, Any], new_context: NewContext, skimage_data: Picture
) -> None:
    coffee = skimage_data("coffee.png")
    page, errors = open_page(new_context(locale="ja-JP"), stack["web"])
    page.check("#op-none")
    page.check("#op-grayscale")
    run_job(page, coffee, "image/png")
    result = decode(displayed_result(page))
    original = decode(coffee.read_bytes())
    assert result.shape == original.shape
    assert channel_spread(result) <= 3
    expected = cv2.cvtColor(original, cv2.COLOR_BGR2GRAY).astype(int)
    assert float(np.abs(result[..., 1].astype(int) - expected).mean()) < 3
    # No face operation was asked for, so no face count is claimed.
    expect(page.locator("#faces-count")).to_be_hidden()
    # The language switch works on a finished page too.
    page.click("button[data-lang=en]")
    expect(page.locator("#result-heading")).to_have_text("Result")
    expect(page.locator("#download-button")).to_have_text("Download the result")
    assert errors == []


def test_failures_on_the_real_stack_are_explained(
    stack: dict[str, Any], new_context: NewContext, skimage_data: Picture, tmp_path: Path
) -> None:
    page, errors = open_page(new_context(locale="en-US"), stack["web"])
    api_calls: list[str] = []
    page.on("request", lambda r: api_calls.append(r.url) if "/uploads" in r.url else None)

    # Refused in the page: nothing is sent.
    set_file(page, "notes.txt", "text/plain", b"just text")
    expect_message(page, "err.wrong_type")
    page.set_input_files("#file-input", big_file(tmp_path, "huge.jpg", 20_000_001))
    expect_message(page, "err.too_large")
    assert api_calls == []

    # Not an image: the browser cannot tell for sure, so the server decides and says so.
    set_file(page, "holiday.png", "image/png", b"these bytes are not a picture at all")
    expect(page.locator("#preview-broken")).to_be_visible()
    with page.expect_response(lambda r: r.url.endswith("/uploads")) as created:
        page.click("#start-button")
    job_id = created.value.json()["id"]
    page.wait_for_selector("#message:not([hidden])", timeout=PROCESS_WAIT_MS)
    expect_message(page, "err.job.unsupported_format")
    expect(page.locator("#message-text")).to_contain_text("not a picture we can read")
    expect(page.locator("#result-section")).to_be_hidden()
    # What was uploaded can be deleted from the failure message.
    page.click("#message-actions button[data-action='result.delete']")
    expect_message(page, "deleted")
    gone = requests.get(f"{stack['upload_api']}/jobs/{job_id}", timeout=30)
    assert gone.status_code == 404

    # A photo cut off in transit.
    png = skimage_data("coffee.png").read_bytes()
    set_file(page, "cut.png", "image/png", png[: len(png) // 2])
    page.click("#start-button")
    page.wait_for_selector("#message:not([hidden])", timeout=PROCESS_WAIT_MS)
    expect_message(page, "err.job.truncated")
    page.click("button[data-lang=ja]")
    expect(page.locator("#message-text")).to_contain_text("途中で切れています")
    assert errors == []


@pytest.mark.parametrize("choice", ["blur_faces", "redact_faces"])
def test_blur_and_black_out_choices_reach_the_service(
    choice: str, stack: dict[str, Any], new_context: NewContext, skimage_data: Picture
) -> None:
    astronaut = skimage_data("astronaut.png")
    page, errors = open_page(new_context(locale="en-US"), stack["web"])
    page.check(f"input[name=faces][value={choice}]")
    job_id = run_job(page, astronaut, "image/png")
    job = requests.get(f"{stack['upload_api']}/jobs/{job_id}", timeout=30).json()
    assert job["ops"] == [choice]
    original = decode(astronaut.read_bytes())
    result = decode(displayed_result(page))
    box = job["faces"]["boxes"][0]
    x, y, w, h = (round(box[k]) for k in ("x", "y", "w", "h"))
    before = original[y : y + h, x : x + w].astype(float)
    after = result[y : y + h, x : x + w].astype(float)
    if choice == "redact_faces":
        assert before.mean() > 100
        assert after.mean() < 12  # solid black, up to JPEG noise
    else:
        # Blurred: the fine detail (Laplacian energy) is gone (943 -> 3 measured), and not as
        # mosaic blocks (0.25 measured, against 0.8 for a mosaic).
        detail_before = cv2.Laplacian(before.mean(axis=2), cv2.CV_64F).var()
        detail_after = cv2.Laplacian(after.mean(axis=2), cv2.CV_64F).var()
        assert detail_after < detail_before / 10
        assert block_edge_share(after, 1) < 0.5
    assert errors == []


PHONE_CASES = {
    "heic": ("IMG_0001.HEIC", "image/heic", fx.heic, True),  # Chromium cannot draw HEIC
    "avif": ("portrait.avif", "image/avif", fx.avif, False),
}


@pytest.mark.parametrize("case", sorted(PHONE_CASES))
def test_phone_photo_with_a_face_comes_back_as_a_redacted_plain_jpeg(
    stack: dict[str, Any],
    new_context: NewContext,
    skimage_data: Picture,
    tmp_path: Path,
    case: str,
) -> None:
    name, mime, encode, placeholder = PHONE_CASES[case]
    original = decode(skimage_data("astronaut.png").read_bytes())
    # Stored turned a quarter, with the turn in the container and EXIF holding a GPS block.
    photo = tmp_path / name
    photo.write_bytes(encode(cv2.rotate(original, cv2.ROTATE_90_COUNTERCLOCKWISE), 6, quality=95))
    assert fx.SECRET in photo.read_bytes()
    page, errors = open_page(new_context(locale="en-US"), stack["web"])
    set_file(page, photo.name, mime, photo.read_bytes())
    if placeholder:
        expect(page.locator("#preview-unavailable")).to_be_visible()
        expect(page.locator("#preview-unavailable")).to_contain_text("HEIC")
        expect(page.locator("#preview-broken")).to_be_hidden()
    else:
        page.wait_for_function("() => document.getElementById('preview-img').naturalWidth > 0")
    job_id = run_job(page, photo, mime)

    job = requests.get(f"{stack['upload_api']}/jobs/{job_id}", timeout=30).json()
    assert job["status"] == "done"
    assert job["result"]["content_type"] == "image/jpeg"
    shown = displayed_result(page)
    assert shown[:3] == b"\xff\xd8\xff"
    for needle in (fx.SECRET, b"Exif", b"xmpmeta", b"ftyp"):
        assert needle not in shown
    result = decode(shown)
    assert result.shape == original.shape  # upright again
    assert_faces_mosaicked(original, result, job)
    assert errors == []


def test_transparent_png_stays_png_and_a_chosen_format_wins(
    stack: dict[str, Any], new_context: NewContext, skimage_data: Picture, tmp_path: Path
) -> None:
    coffee = decode(skimage_data("coffee.png").read_bytes())
    alpha = np.zeros(coffee.shape[:2], np.uint8)
    alpha[:, coffee.shape[1] // 2 :] = 255  # left half fully transparent
    path = tmp_path / "cutout.png"
    path.write_bytes(fx.encode(np.dstack([coffee, alpha]), ".png"))
    page, errors = open_page(new_context(locale="en-US"), stack["web"])
    expect(page.locator("#format-auto")).to_be_checked()
    job_id = run_job(page, path, "image/png")
    job = requests.get(f"{stack['upload_api']}/jobs/{job_id}", timeout=30).json()
    assert job["result"]["content_type"] == "image/png"
    out = cv2.imdecode(np.frombuffer(displayed_result(page), np.uint8), cv2.IMREAD_UNCHANGED)
    assert out is not None
    assert out.shape == (*coffee.shape[:2], 4)
    assert int(out[:, : coffee.shape[1] // 2 - 2, 3].max()) == 0
    assert int(out[:, coffee.shape[1] // 2 + 2 :, 3].min()) == 255

    page.click("#again-button")
    page.click("label[for=format-webp]")
    job_id = run_job(page, path, "image/png")
    job = requests.get(f"{stack['upload_api']}/jobs/{job_id}", timeout=30).json()
    assert job["result"]["content_type"] == "image/webp"
    assert displayed_result(page)[8:12] == b"WEBP"
    assert errors == []


def test_batch_of_five_mixed_photos_with_one_bad_file_zip_and_delete_all(
    stack: dict[str, Any], new_context: NewContext, skimage_data: Picture
) -> None:
    astronaut = decode(skimage_data("astronaut.png").read_bytes())
    coffee = decode(skimage_data("coffee.png").read_bytes())
    files: list[tuple[str, str, bytes]] = [
        ("astronaut.png", "image/png", skimage_data("astronaut.png").read_bytes()),
        ("coffee.jpg", "image/jpeg", fx.encode(coffee, ".jpg")),
        ("IMG_0002.HEIC", "image/heic", fx.heic(astronaut, quality=90)),
        ("cup.avif", "image/avif", fx.avif(coffee, quality=80)),
        ("broken.jpg", "image/jpeg", b"this is not really a photo " * 40),
    ]
    page, errors = open_page(new_context(locale="en-US"), stack["web"])
    page.set_input_files(
        "#file-input",
        files=[{"name": n, "mimeType": m, "buffer": b} for n, m, b in files],
    )
    expect(page.locator("#batch-section")).to_be_visible()
    expect(page.locator("#batch-list > li")).to_have_count(5)
    expect(page.locator("#preview")).to_be_hidden()  # one photo's flow stays out of the way
    with page.expect_response(lambda r: r.url.endswith("/uploads")):
        page.click("#start-button")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#batch-list > li')]"
        ".every(li => ['done', 'failed'].includes(li.dataset.status))",
        timeout=PROCESS_WAIT_MS * 2,
    )
    rows = page.locator("#batch-list > li")
    statuses = [rows.nth(i).get_attribute("data-status") for i in range(5)]
    assert statuses == ["done", "done", "done", "done", "failed"]
    expect(rows.nth(4).locator(".batch-error")).to_contain_text("not a picture we can read")
    expect(rows.nth(0).locator(".batch-faces")).to_contain_text("face")
    expect(rows.nth(2).locator(".batch-faces")).to_contain_text("face")
    expect(page.locator("#batch-summary")).to_have_text("5 photos: 4 finished, 1 failed.")

    with page.expect_download() as info:
        page.click("#batch-download")
    assert info.value.suggested_filename == "gazokako-results.zip"
    zip_path = info.value.path()
    assert zip_path is not None
    with zipfile.ZipFile(zip_path) as archive:
        assert archive.testzip() is None
        names = archive.namelist()
        assert names == [
            "astronaut-gazokako.png",
            "coffee-gazokako.jpg",
            "IMG_0002-gazokako.jpg",
            "cup-gazokako.jpg",
        ]
        for name in names:
            data = archive.read(name)
            assert fx.SECRET not in data and b"Exif" not in data
            img = decode(data)
            expected = astronaut if "astronaut" in name or "IMG" in name else coffee
            assert img.shape == expected.shape, name

    page.click("#batch-delete")
    expect_message(page, "batch.deleted_all")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#batch-list > li')]"
        ".every(li => li.dataset.status === 'deleted')"
    )
    assert errors == []


# astronaut.png (512 x 512): the lower left corner is her suit and the background, no face.
FACE_FREE = {"x": 16, "y": 400, "w": 96, "h": 96}


def test_review_draws_a_missed_face_releases_a_found_one_and_applies_once(
    stack: dict[str, Any], new_context: NewContext, skimage_data: Picture
) -> None:
    astronaut = skimage_data("astronaut.png")
    original = decode(astronaut.read_bytes()).astype(int)
    page, errors = open_page(new_context(locale="en-US"), stack["web"])
    job_id = run_job(page, astronaut, "image/png")
    api = f"{stack['upload_api']}/jobs/{job_id}"
    job = requests.get(api, timeout=30).json()
    face = job["faces"]["boxes"][0]
    assert job["revision"] == 0 and job["faces"]["reviewed"] is False
    # The detected face starts hidden (mosaic), the face-free corner is the photo's own.
    first = decode(displayed_result(page)).astype(int)
    assert block_edge_share(_crop(first, face).astype(np.uint8), 1) > 0.6
    assert _difference(first, original, FACE_FREE) < 8

    page.click("#review-open")
    expect(page.locator("#review-section")).to_be_visible()
    # The photo under the boxes is the original from this device, never fetched from the server.
    assert (page.get_attribute("#review-img", "src") or "").startswith("blob:")
    page.wait_for_function("() => document.getElementById('review-img').naturalWidth === 512")
    page.evaluate("document.getElementById('review-stage').scrollIntoView({ block: 'center' })")
    stage = page.locator("#review-stage").bounding_box()
    assert stage is not None

    def at(x: float, y: float) -> tuple[float, float]:
        return stage["x"] + x * stage["width"] / 512, stage["y"] + y * stage["height"] / 512

    # Release the found face with a click, draw a box over the corner with a drag.
    page.mouse.click(*at(face["x"] + face["w"] / 2, face["y"] + face["h"] / 2))
    expect(page.locator("#review-boxes .review-box").first).to_have_attribute(
        "data-state", "released"
    )
    page.mouse.move(*at(FACE_FREE["x"], FACE_FREE["y"]))
    page.mouse.down()
    page.mouse.move(*at(FACE_FREE["x"] + FACE_FREE["w"], FACE_FREE["y"] + FACE_FREE["h"]), steps=8)
    page.mouse.up()
    count = job["faces"]["count"]
    expect(page.locator("#review-boxes .review-box")).to_have_count(count + 1)
    save_screenshot(page, "review.png")
    with page.expect_response(revision_post) as posted:
        page.click("#review-apply")
    assert posted.value.status == 202 and posted.value.json()["revision"] == 1
    sent = posted.value.request.post_data_json
    page.wait_for_selector("#result-section:not([hidden])", timeout=PROCESS_WAIT_MS)
    expect(page.locator("#faces-count")).to_contain_text("You checked the faces")

    job = requests.get(api, timeout=30).json()
    assert job["status"] == "done" and job["revision"] == 1 and job["faces"]["reviewed"] is True
    assert len(job["faces"]["boxes"]) == count  # one released, one drawn
    drawn = min(job["faces"]["boxes"], key=lambda b: abs(b["x"] - 16) + abs(b["y"] - 400))
    assert all(abs(drawn[k] - FACE_FREE[k]) <= 3 for k in ("x", "y", "w", "h")), drawn
    with page.expect_download() as info:
        page.click("#download-button")
    path = info.value.path()
    assert path is not None
    revised = decode(path.read_bytes()).astype(int)
    assert path.read_bytes() == displayed_result(page)
    # The corner is pixelated now: flat blocks, and far from the photo.
    corner = _crop(revised, FACE_FREE).astype(np.uint8)
    assert block_edge_share(corner, 0) > 0.6 and block_edge_share(corner, 1) > 0.6
    assert _difference(revised, original, FACE_FREE) > 12
    # The released face has its own detail back (up to JPEG noise), no mosaic left.
    assert _difference(revised, original, face) < 8
    assert block_edge_share(_crop(revised, face).astype(np.uint8), 1) < 0.4

    # Apply again with the same set: the API counts it as the same revision.
    page.click("#review-open")
    expect(page.locator("#review-section")).to_be_visible()
    with page.expect_response(revision_post) as posted:
        page.click("#review-apply")
    assert posted.value.request.post_data_json == sent
    assert posted.value.status == 202 and posted.value.json()["revision"] == 1
    page.wait_for_selector("#result-section:not([hidden])", timeout=PROCESS_WAIT_MS)
    again = requests.get(api, timeout=30).json()
    assert again["revision"] == 1 and again["faces"]["boxes"] == job["faces"]["boxes"]
    assert errors == []


def revision_post(response: Response) -> bool:
    """The answer to the page's POST /jobs/{id}/revisions (not to its CORS preflight)."""
    return response.url.endswith("/revisions") and response.request.method == "POST"


def _crop(img: np.ndarray, box: dict[str, Any]) -> np.ndarray:
    x, y, w, h = (round(box[k]) for k in ("x", "y", "w", "h"))
    return img[y : y + h, x : x + w]


def _difference(a: np.ndarray, b: np.ndarray, box: dict[str, Any]) -> float:
    """Mean absolute difference of two pictures over a box (0-255)."""
    return float(np.abs(_crop(a, box) - _crop(b, box)).mean())
