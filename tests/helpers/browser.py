"""How the browser tests start Chromium: Debian's build, headless, fake camera and microphone.

Playwright's own browser download does not work on these machines; scripts/install.sh --test
installs Debian's chromium. A missing Chromium fails the browser tests rather than skipping
them, so a run without a browser cannot pass by accident.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from playwright.async_api import (
    Browser,
    ConsoleMessage,
    Locator,
    Page,
    Response,
    async_playwright,
    expect,
)

from helpers.shop import CONTACT

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


async def more_frames(page: Page, count: int = 10, timeout: float = 15.0,
                      why: str = "no new video frames") -> None:
    """Wait until the page has decoded ``count`` more video frames; fail with ``why``."""
    start = await frames(page)
    deadline = time.monotonic() + timeout
    while await frames(page) < start + count:
        assert time.monotonic() < deadline, why
        await asyncio.sleep(0.25)


async def logged_page(browser: Browser, name: str, logs: list[str],
                      errors: list[str] | None = None, **context: Any) -> Page:
    """A page in a new browser context (``context``: Playwright's new_context options, the
    context is ``page.context``) whose messages go into ``logs`` (see collect_logs)."""
    page = await (await browser.new_context(**context)).new_page()
    collect_logs(page, name, logs, errors)
    return page


async def start_flash_sale(page: Page, title: str, price: str, quantity: str, duration: str,
                           timeout: float, option: str | None = None,
                           label: str | None = None) -> Locator:
    """In the studio: a flash sale of the product chosen by ``option`` (its value) or
    ``label``, starting now; its item in the sales list, once it shows all ``quantity`` left
    and on sale."""
    await page.get_by_label("Product", exact=True).select_option(option, label=label)
    await page.get_by_label("Sale price").fill(price)
    await page.get_by_label("Quantity").fill(quantity)
    await page.get_by_label("Start in (seconds)").fill("0")
    await page.get_by_label("Duration (seconds)").fill(duration)
    await page.get_by_role("button", name="Start flash sale", exact=True).click()
    sale = page.locator("#sales li", has_text=title)
    await expect(sale).to_contain_text(f"{quantity} of {quantity} left", timeout=timeout)
    await expect(sale).to_contain_text("On sale")
    return sale


async def check_out(page: Page, price: str, timeout: float) -> None:
    """On the watch page: Buy, see ``price`` in the checkout, give CONTACT's name, phone and
    address and place the order; back once it is confirmed and the dialog has closed."""
    await page.get_by_role("button", name="Buy", exact=True).click()
    dialog = page.get_by_role("dialog", name="Checkout")
    await expect(dialog).to_be_visible()
    await expect(dialog.locator("#checkout-item")).to_contain_text(price)
    await dialog.get_by_label("Name").fill(CONTACT["name"])
    await dialog.get_by_label("Phone").fill(CONTACT["phone"])
    await dialog.get_by_label("Address").fill(CONTACT["address"])
    await dialog.get_by_role("button", name="Place order").click()
    await expect(page.locator("#shop-status")).to_contain_text("Confirmed", timeout=timeout)
    await expect(dialog).to_be_hidden()


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
