"""The host studio on a phone, in real headless Chromium at 390×844 (is_mobile, touch, 3×
pixels): the camera fills the screen and a portrait phone publishes a portrait stream; go
live, pinning a product chip and starting a flash sale from its ⚡ sheet are all on the one
screen without scrolling and reach viewers (GET /api/rooms/{id}/state); the sign-in link's
fragment is stored and stripped; a second device sees "live from another device" and asks
before taking over. Screenshots of the live screen, the sale sheet and the catalogue tab in
en, zh and ja go to test-artifacts/studio-<screen>-<lang>.png."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PIL import Image
from playwright.async_api import Browser, BrowserContext, Locator, Page, expect

from helpers.browser import chromium, collect_logs
from helpers.servers import Running
from helpers.shop import Api

pytestmark = [pytest.mark.browser]

SLOW = 30_000
PHONE: dict[str, Any] = {
    "viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
    "device_scale_factor": 3, "permissions": ["camera", "microphone"], "locale": "en-US",
}
PRODUCT = "Sun-dried lychee 500 g"
LIVE_WORDS = {"en": "live", "zh": "直播中", "ja": "ライブ中"}
START_SALE = {"en": "Start flash sale", "zh": "开始秒杀", "ja": "タイムセールを開始"}

# What the page publishes and how its picture sits on the screen.
SENT = """() => {
  const pc = window.stallcast.pc;
  const sender = pc && pc.getSenders().find((s) => s.track && s.track.kind === "video");
  const video = document.getElementById("preview").getBoundingClientRect();
  const st = sender ? sender.track.getSettings() : {};
  return {width: st.width || 0, height: st.height || 0, box: [video.x, video.y, video.width,
    video.height], view: [innerWidth, innerHeight],
    scroll: document.scrollingElement.scrollHeight,
    sideways: document.documentElement.scrollWidth - innerWidth};
}"""


def jpeg(width: int = 640, height: int = 480) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (220, 90, 60)).save(out, "JPEG", quality=80)
    return out.getvalue()


async def photo(http: aiohttp.ClientSession, base: str, token: str) -> dict[str, str]:
    """A product picture uploaded as a phone would (POST /api/uploads), or {} when the
    server has no upload route yet."""
    async with http.post(f"{base}/api/uploads", data=jpeg(), headers={
            "Authorization": f"Bearer {token}", "Content-Type": "image/jpeg"}) as resp:
        if resp.status != 201:
            return {}
        body: dict[str, Any] = await resp.json()
        return {"image": body["card"], "thumb": body["thumb"]}


async def in_viewport(page: Page, locator: Locator) -> None:
    """The element is on screen as it is, with no scrolling (and big enough to tap)."""
    await expect(locator).to_be_visible(timeout=SLOW)
    box = await locator.bounding_box()
    assert box is not None
    width, height = 390, 844
    assert box["x"] >= 0 and box["y"] >= 0, box
    assert box["x"] + box["width"] <= width + 0.5 and box["y"] + box["height"] <= height + 0.5, box
    assert min(box["width"], box["height"]) >= 44, box


async def phone_page(browser: Browser, logs: list[str], name: str) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(**PHONE)
    page = await context.new_page()
    collect_logs(page, name, logs)
    return context, page


async def open_signed_in(page: Page, base: str, room_id: str, token: str) -> None:
    await page.goto(f"{base}/studio/{room_id}#signin={token}")
    await page.wait_for_function("() => document.body.dataset.ready === '1'", timeout=SLOW)


@pytest.mark.timeout(240)
async def test_phone_studio_portrait_live_pin_and_flash_sale(server: Running,
                                                             artifacts: Path) -> None:
    _, token = await server.new_host("Lychee orchard")
    room = await server.new_room(token, "Lychee harvest")
    room_id = room["room_id"]
    logs: list[str] = []
    async with aiohttp.ClientSession() as http, chromium() as browser:
        api = Api(server.base, http)
        product = await api.product(token, title=PRODUCT, price=2590, stock=30,
                                    per_buyer_limit=4, **await photo(http, server.base, token))
        pid = product["product_id"]
        _, page = await phone_page(browser, logs, "phone")

        # The sign-in link: stored in this browser, gone from the address bar.
        await open_signed_in(page, server.base, room_id, token)
        assert await page.evaluate("() => localStorage.getItem('stallcast.hostToken')") == token
        assert await page.evaluate("() => location.hash") == ""
        assert token not in page.url
        await expect(page.locator("#title")).to_have_text("Studio: Lychee harvest", timeout=SLOW)

        # The portrait camera fills the screen before going live.
        await page.wait_for_function(
            "() => { const v = document.getElementById('preview');"
            " return v.srcObject && v.videoHeight > 0; }", timeout=SLOW)
        size = await page.evaluate(
            "() => { const v = document.getElementById('preview');"
            " return [v.videoWidth, v.videoHeight]; }")
        assert size[1] > size[0], f"the phone's preview is not portrait: {size}"

        golive = page.get_by_role("button", name="Go live", exact=True)
        await in_viewport(page, golive)
        await golive.tap()
        await expect(page.locator("#status")).to_have_text("live", timeout=SLOW)
        assert server.ctx.sfu.routers[room_id].live
        sent = await page.evaluate(SENT)
        assert sent["height"] > sent["width"] > 0, f"published track not portrait: {sent}"
        x, y, w, h = sent["box"]
        assert abs(x) < 1 and abs(y) < 1 and abs(w - 390) < 1 and abs(h - 844) < 1, sent
        assert sent["scroll"] <= sent["view"][1] and sent["sideways"] <= 0, sent

        # The health readout names the codec actually sent (H264 when Chromium can).
        await expect(page.locator("#h-size")).to_have_text(re.compile(r"^\d+×\d+$"), timeout=SLOW)
        await expect(page.locator("#h-codec")).to_have_text(re.compile(r"^(H264|VP8)$"),
                                                            timeout=SLOW)
        health = await page.evaluate("() => window.stallcast.health")
        assert health["height"] > health["width"], health
        codecs = await page.evaluate(
            "() => RTCRtpSender.getCapabilities('video').codecs.map((c) => c.mimeType)")
        if "video/H264" in codecs:
            assert health["codec"] == "H264", (health, codecs)

        # Tap a chip: pinned for viewers; tap it again: unpinned; and pinned again.
        chip = page.locator(f'#chips li[data-product-id="{pid}"] .chip-main')
        await in_viewport(page, chip)
        await chip.tap()
        await expect(chip).to_have_attribute("aria-pressed", "true", timeout=SLOW)
        state = await api.ok("GET", f"/api/rooms/{room_id}/state")
        assert state["pinned"]["product_id"] == pid, state["pinned"]
        await chip.tap()
        await expect(chip).to_have_attribute("aria-pressed", "false", timeout=SLOW)
        assert (await api.ok("GET", f"/api/rooms/{room_id}/state"))["pinned"] is None
        await chip.tap()
        await expect(chip).to_have_attribute("aria-pressed", "true", timeout=SLOW)
        assert (await page.evaluate(SENT))["scroll"] <= 844

        # ⚡ on the chip: the flash-sale sheet, all of it on screen; the sale reaches viewers.
        flash = page.get_by_role("button", name=f"Flash sale of {PRODUCT}", exact=True)
        await in_viewport(page, flash)
        await flash.tap()
        sheet = page.get_by_role("dialog", name="⚡ Start a flash sale")
        await expect(sheet).to_be_visible()
        await expect(sheet.get_by_label("Sale price")).to_have_value("25.90")
        await sheet.get_by_label("Sale price").fill("19.90")
        await sheet.get_by_label("Quantity").fill("8")
        await sheet.get_by_label("Duration (seconds)").fill("90")
        await sheet.get_by_label("Per-buyer limit").fill("2")
        for control in ("Sale price", "Quantity", "Duration (seconds)", "Per-buyer limit"):
            await in_viewport(page, sheet.get_by_label(control))
        start = sheet.get_by_role("button", name="Start flash sale", exact=True)
        await in_viewport(page, start)
        await page.screenshot(path=str(artifacts / "studio-sale-en.png"))
        await start.tap()
        await expect(sheet).to_be_hidden(timeout=SLOW)
        state = await api.ok("GET", f"/api/rooms/{room_id}/state")
        (sale,) = state["sales"]
        assert (sale["product_id"], sale["price"], sale["quantity"],
                sale["per_buyer_limit"]) == (pid, 1990, 8, 2), sale
        await expect(page.locator(f'#chips li[data-product-id="{pid}"] .chip-tag')).to_contain_text(
            "8 left", timeout=SLOW)
        assert (await page.evaluate(SENT))["scroll"] <= 844
        await page.screenshot(path=str(artifacts / "studio-live-en.png"))

        # The catalogue behind its tab, with the photo form a phone can use.
        await page.get_by_role("button", name="Manage the shop").tap()
        await page.get_by_role("tab", name="Products").tap()
        await expect(page.get_by_role("heading", name="Products", exact=True)).to_be_visible()
        picker = page.locator("#p-file")
        assert await picker.get_attribute("accept") == "image/*"
        assert await picker.get_attribute("capture") == "environment"
        await expect(page.locator("#products li", has_text=PRODUCT)).to_be_visible()
        await page.screenshot(path=str(artifacts / "studio-catalogue-en.png"))
        await page.get_by_role("button", name="Close").tap()

        for lang in ("zh", "ja"):
            await screens_in(page, lang, artifacts)

        # End asks first.
        await page.locator("#lang").select_option("en")
        await page.get_by_role("button", name="End", exact=True).tap()
        confirm = page.get_by_role("dialog", name="End the live show?")
        await expect(confirm).to_be_visible()
        await confirm.get_by_role("button", name="Keep streaming").tap()
        await expect(page.locator("#status")).to_have_text("live")
        await page.get_by_role("button", name="End", exact=True).tap()
        await confirm.get_by_role("button", name="End now").tap()
        await expect(page.locator("#status")).to_have_text("ended", timeout=SLOW)
    assert not [line for line in logs if "pageerror" in line], logs


async def screens_in(page: Page, lang: str, artifacts: Path) -> None:
    """The three screens in another language, and that the live screen is translated."""
    await page.locator("#lang").select_option(lang)
    await expect(page.locator("#status")).to_have_text(LIVE_WORDS[lang], timeout=SLOW)
    assert (await page.evaluate(SENT))["scroll"] <= 844
    await page.screenshot(path=str(artifacts / f"studio-live-{lang}.png"))
    await page.locator("#chips .chip-sale").first.tap()
    sheet = page.locator("#sale-sheet")
    await expect(sheet).to_be_visible()
    await expect(sheet.locator("#sale-start")).to_have_text(START_SALE[lang])
    await page.screenshot(path=str(artifacts / f"studio-sale-{lang}.png"))
    await sheet.locator("#sale-cancel").tap()
    await expect(sheet).to_be_hidden()
    await page.locator("#manage-open").tap()
    await page.locator("#tab-products").tap()
    await expect(page.locator("#products-panel")).to_be_visible()
    await page.screenshot(path=str(artifacts / f"studio-catalogue-{lang}.png"))
    await page.locator("#manage-close").tap()


@pytest.mark.timeout(180)
async def test_second_device_sees_the_live_show_and_asks_before_taking_over(
        server: Running, artifacts: Path) -> None:
    _, token = await server.new_host("Two phones farm")
    room = await server.new_room(token, "Two phones")
    room_id = room["room_id"]
    logs: list[str] = []
    async with chromium() as browser:
        _, first = await phone_page(browser, logs, "first")
        await open_signed_in(first, server.base, room_id, token)
        await first.get_by_role("button", name="Go live", exact=True).tap()
        await expect(first.locator("#status")).to_have_text("live", timeout=SLOW)

        _, second = await phone_page(browser, logs, "second")
        await open_signed_in(second, server.base, room_id, token)
        # Not "offline": the other device's show, with its health.
        await expect(second.locator("#status")).to_have_text("live from another device",
                                                             timeout=SLOW)
        remote = second.locator("#remote-live")
        await expect(remote).to_be_visible()
        await expect(remote).to_contain_text("Live from another device")
        await expect(remote).to_contain_text("Resolution")
        takeover = second.get_by_role("button", name="Go live here", exact=True)
        await in_viewport(second, takeover)
        await second.screenshot(path=str(artifacts / "studio-second-device-en.png"))
        await takeover.tap()
        confirm = second.get_by_role("dialog", name="Go live from this phone instead?")
        await expect(confirm).to_be_visible()
        # Cancel leaves the first device live.
        await confirm.get_by_role("button", name="Cancel").tap()
        await expect(confirm).to_be_hidden()
        await expect(first.locator("#status")).to_have_text("live")
        await takeover.tap()
        await confirm.get_by_role("button", name="Go live here").tap()
        await expect(second.locator("#status")).to_have_text("live", timeout=SLOW)
        await expect(first.locator("#status")).to_have_text("Taken over by another device",
                                                            timeout=SLOW)
        assert server.ctx.sfu.routers[room_id].live
    assert not [line for line in logs if "pageerror" in line], logs
