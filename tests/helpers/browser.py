"""How the browser tests start Chromium: Debian's build, headless, fake camera and microphone.

Playwright's own browser download does not work on these machines; scripts/install.sh --test
installs Debian's chromium. A missing Chromium fails the browser tests rather than skipping
them, so a run without a browser cannot pass by accident.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from playwright.async_api import Browser, ConsoleMessage, Page, Response, async_playwright

CHROMIUM = os.environ.get("STALLCAST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
]


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """One headless Chromium for a test, closed however the test ends."""
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                           args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


FRAMES_DECODED = """
async () => {
  const pc = window.stallcast && window.stallcast.pc;
  if (!pc) return 0;
  for (const s of (await pc.getStats()).values()) {
    if (s.type === "inbound-rtp" && s.kind === "video") return s.framesDecoded ?? 0;
  }
  return 0;
}
"""


async def frames(page: Page) -> int:
    """Video frames the page's peer connection (window.stallcast.pc) has decoded."""
    return int(await page.evaluate(FRAMES_DECODED) or 0)


def seconds(countdown: str) -> int:
    """Seconds in a countdown shown as m:ss."""
    match = re.search(r"(\d+):(\d\d)", countdown)
    assert match, countdown
    return int(match[1]) * 60 + int(match[2])


async def no_sideways_scroll(page: Page) -> None:
    overflow = await page.evaluate(
        "() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px"


def collect_logs(page: Page, name: str, logs: list[str], errors: list[str] | None = None) -> None:
    """Record what a page says into ``logs``: each console message as ``[name console.TYPE]
    text``, each uncaught error as ``[name pageerror] error`` (also into ``errors`` as ``name:
    error``, when given) and each HTTP response of 400 or more as ``[name HTTP STATUS] METHOD
    url``. An empty ``name`` leaves the prefix out: ``[pageerror] error``."""
    tag = f"{name} " if name else ""

    def on_console(msg: ConsoleMessage) -> None:
        logs.append(f"[{tag}console.{msg.type}] {msg.text}")

    def on_error(exc: Exception) -> None:
        logs.append(f"[{tag}pageerror] {exc}")
        if errors is not None:
            errors.append(f"{name}: {exc}")

    def on_response(response: Response) -> None:
        if response.status >= 400:
            logs.append(f"[{tag}HTTP {response.status}] {response.request.method} {response.url}")

    page.on("console", on_console)
    page.on("pageerror", on_error)
    page.on("response", on_response)
