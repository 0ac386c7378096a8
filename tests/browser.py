"""A page opened in headless Chromium as a person would see it: Debian's browser, Playwright.

Playwright's own browser download cannot reach the internet here, so it drives the Chromium
that `.ci/run` installs from Debian.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
# No network, no first-run or background work: the page alone, in a fresh profile.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE_WIDTH, PHONE_HEIGHT = 390, 844
DESKTOP_WIDTH, DESKTOP_HEIGHT = 1200, 900


@dataclasses.dataclass
class PageView:
    images: list[dict]  # Each image's alt text, whether it loaded and its rendered width.
    console_errors: list[str]
    phone_scroll_width: int  # The page's width at phone width; more than PHONE_WIDTH scrolls.
    wider_than_phone: list[str]  # Elements sticking out of the phone-wide page.
    links: list[str]


def view_page(page_path: Path, screenshot: Path | None = None) -> PageView:
    """Opens `page_path` at phone width (and saves a desktop-width screenshot if asked)."""
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": PHONE_WIDTH, "height": PHONE_HEIGHT},
        )
        try:
            page = browser.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(page_path.resolve().as_uri(), wait_until="load")
            images = page.evaluate(
                "[...document.images].map(i => ({alt: i.alt, "
                "loaded: i.complete && i.naturalWidth > 0, "
                "width: i.getBoundingClientRect().width}))"
            )
            scroll_width = page.evaluate("document.documentElement.scrollWidth")
            # Outside a box of its own that scrolls sideways (a wide table's), that is.
            wider = page.evaluate(
                "[...document.querySelectorAll('body *')].filter(e => {"
                " for (let p = e.parentElement; p; p = p.parentElement)"
                "  if (['auto', 'scroll'].includes(getComputedStyle(p).overflowX)) return false;"
                " return e.getBoundingClientRect().right > innerWidth + 0.5; })"
                ".map(e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : ''))"
            )
            links = page.evaluate("[...document.links].map(a => a.getAttribute('href'))")
            if screenshot is not None:
                page.set_viewport_size({"width": DESKTOP_WIDTH, "height": DESKTOP_HEIGHT})
                page.screenshot(path=str(screenshot))
        finally:
            browser.close()
    return PageView(images, errors, scroll_width, wider, links)
