"""Helpers shared by the browser tests (fixtures live in conftest.py)."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import BrowserContext, FilePayload, Page
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
CACHE = ROOT / ".local" / "cache"
SCREENSHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
# From design.md: what Debian's Chromium needs to run headless here without reaching out.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Each wait has a bound so a broken page fails the test with a message instead of hanging.
WAIT_MS = 20_000


def open_page(context: BrowserContext, url: str) -> tuple[Page, list[str]]:
    """Opens the page, waits until it has read config.json, and collects uncaught JS errors."""
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url)
    page.wait_for_selector("body[data-ready=true]", state="attached")
    return page, errors


def expect_message(page: Page, key: str) -> None:
    """Waits for the message with this key (the text itself depends on the language)."""
    try:
        page.wait_for_selector(f"#message[data-key='{key}']:not([hidden])")
    except PlaywrightTimeoutError:
        shown = page.evaluate(
            "() => { const m = document.getElementById('message');"
            " return m.hidden ? null : [m.dataset.key, m.textContent.trim()]; }"
        )
        raise AssertionError(f"expected message {key!r}, the page shows {shown!r}") from None


def big_file(folder: Path, name: str, size: int, head: bytes = b"\xff\xd8\xff") -> Path:
    """A file of exactly `size` bytes, mostly a hole on disk: passing a path to the browser is
    far quicker than sending megabytes through the driver."""
    path = folder / name
    with path.open("wb") as f:
        f.write(head)
        f.truncate(size)
    return path


def set_file(page: Page, name: str, mime: str, data: bytes) -> None:
    payload: FilePayload = {"name": name, "mimeType": mime, "buffer": data}
    page.set_input_files("#file-input", files=[payload])
