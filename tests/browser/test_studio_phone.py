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
from playwright.async_api import Browser, Locator, Page, expect

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
  const pc = window.stallcast.pc, v = document.getElementById("preview").getBoundingClientRect();
  const sender = pc && pc.getSenders().find((s) => s.track && s.track.kind === "video");
  const st = sender ? sender.track.getSettings() : {};
  return {width: st.width || 0, height: st.height || 0, box: [v.x, v.y, v.width, v.height],
    view: [innerWidth, innerHeight], scroll: document.scrollingElement.scrollHeight,
    sideways: document.documentElement.scrollWidth - innerWidth};
}"""


SENDER = """() => {
  const pc = window.stallcast.pc;
  const track = (kind) => pc.getSenders().map((s) => s.track).find((t) => t && t.kind === kind);
  return {video: track("video").id, audioOn: track("audio").enabled,
          sdp: pc.localDescription.sdp};
}"""


def jpeg(width: int = 640, height: int = 480) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (220, 90, 60)).save(out, "JPEG", quality=80)
    return out.getvalue()


async def photo(http: aiohttp.ClientSession, base: str, token: str) -> dict[str, str]:
    """A product picture uploaded as a phone would (POST /api/uploads)."""
    async with http.post(f"{base}/api/uploads", data=jpeg(), headers={
            "Authorization": f"Bearer {token}", "Content-Type": "image/jpeg"}) as resp:
        assert resp.status == 201, await resp.text()
        body: dict[str, Any] = await resp.json()
        return {"image": body["card"], "thumb": body["thumb"]}


async def in_viewport(page: Page, locator: Locator) -> None:
    """The element is on screen as it is, with no scrolling (and big enough to tap)."""
    await expect(locator).to_be_visible(timeout=SLOW)
    box = await locator.bounding_box()
    assert box and box["x"] >= 0 and box["y"] >= 0, box
    assert box["x"] + box["width"] <= 390.5 and box["y"] + box["height"] <= 844.5, box
    assert min(box["width"], box["height"]) >= 44, box


async def phone_page(browser: Browser, logs: list[str], name: str, **options: Any) -> Page:
    page = await (await browser.new_context(**{**PHONE, **options})).new_page()
    collect_logs(page, name, logs)
    return page


async def open_signed_in(page: Page, base: str, room_id: str, token: str) -> None:
    await page.goto(f"{base}/studio/{room_id}#signin={token}")
    await page.wait_for_function("() => document.body.dataset.ready === '1'", timeout=SLOW)


@pytest.mark.timeout(240)
async def test_phone_studio_portrait_live_pin_and_flash_sale(server: Running,
                                                             artifacts: Path) -> None:
    _, token = await server.new_host("Lychee orchard")
    room_id = (await server.new_room(token, "Lychee harvest"))["room_id"]
    logs: list[str] = []
    async with aiohttp.ClientSession() as http, chromium() as browser:
        api = Api(server.base, http)
        product = await api.product(token, title=PRODUCT, price=2590, stock=30,
                                    per_buyer_limit=4, **await photo(http, server.base, token))
        pid = product["product_id"]
        page = await phone_page(browser, logs, "phone")
        # The sign-in link: stored in this browser, gone from the address bar.
        await open_signed_in(page, server.base, room_id, token)
        assert await page.evaluate("() => localStorage.getItem('stallcast.hostToken')") == token
        assert await page.evaluate("() => location.hash") == ""
        assert token not in page.url
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
        assert all(abs(a - b) < 1 for a, b in zip(sent["box"], [0, 0, 390, 844], strict=True)), sent
        assert sent["scroll"] <= sent["view"][1] and sent["sideways"] <= 0, sent
        # The health readout names the codec actually sent (H264 when Chromium can).
        await expect(page.locator("#h-size")).to_have_text(re.compile(r"^\d+×\d+$"), timeout=SLOW)
        codec = page.locator("#h-codec")
        await expect(codec).to_have_text(re.compile("^(H264|VP8)$"), timeout=SLOW)
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
        pinned = (await api.ok("GET", f"/api/rooms/{room_id}/state"))["pinned"]
        assert pinned["product_id"] == pid, pinned
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
        for label, value in (("Sale price", "19.90"), ("Quantity", "8"),
                             ("Duration (seconds)", "90"), ("Per-buyer limit", "2")):
            await sheet.get_by_label(label).fill(value)
            await in_viewport(page, sheet.get_by_label(label))
        start = sheet.get_by_role("button", name="Start flash sale", exact=True)
        await in_viewport(page, start)
        await page.screenshot(path=str(artifacts / "studio-sale-en.png"))
        await start.tap()
        await expect(sheet).to_be_hidden(timeout=SLOW)
        (sale,) = (await api.ok("GET", f"/api/rooms/{room_id}/state"))["sales"]
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
        picker = await page.locator("#p-file").evaluate(
            "(i) => [i.accept, i.getAttribute('capture')]")
        assert picker == ["image/*", "environment"], picker
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
    room_id = (await server.new_room(token, "Two phones"))["room_id"]
    logs: list[str] = []
    async with chromium() as browser:
        first = await phone_page(browser, logs, "first")
        await open_signed_in(first, server.base, room_id, token)
        await first.get_by_role("button", name="Go live", exact=True).tap()
        await expect(first.locator("#status")).to_have_text("live", timeout=SLOW)

        second = await phone_page(browser, logs, "second")
        await open_signed_in(second, server.base, room_id, token)
        # Not "offline": the other device's show, with its health.
        status = second.locator("#status")
        await expect(status).to_have_text("live from another device", timeout=SLOW)
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


@pytest.mark.timeout(180)
async def test_phone_catalogue_photo_variants_archive_and_chat_moderation(
        server: Running, artifacts: Path) -> None:
    _, token = await server.new_host("Orchard shop")
    room_id = (await server.new_room(token, "Orchard"))["room_id"]
    logs: list[str] = []
    async with aiohttp.ClientSession() as http, chromium() as browser:
        api = Api(server.base, http)
        page = await phone_page(browser, logs, "phone")
        await open_signed_in(page, server.base, room_id, token)
        await page.locator("#manage-open").tap()
        await page.locator("#tab-products").tap()
        # A photo from the phone's camera or gallery, then a product with two variants.
        await page.locator("#p-file").set_input_files(
            {"name": "box.jpg", "mimeType": "image/jpeg", "buffer": jpeg(1200, 900)})
        await expect(page.locator("#p-photo")).to_have_attribute(
            "src", re.compile(r"^/uploads/.+-thumb\.jpg$"), timeout=SLOW)
        await page.get_by_label("Product name").fill("Longan box")
        await page.get_by_label("Description").fill("Picked this morning")
        await page.get_by_label("Price", exact=True).fill("30")
        await page.get_by_label("Shipping fee").fill("6.50")
        await page.get_by_role("button", name="Add variants").tap()
        for n, (label, price, stock) in enumerate((("2 kg", "30", "12"), ("5 kg", "68", "5")), 1):
            await page.get_by_label(f"Variant {n} name").fill(label)
            await page.get_by_label(f"Variant {n} price").fill(price)
            await page.get_by_label(f"Variant {n} stock").fill(stock)
        await page.get_by_role("button", name="Add product", exact=True).tap()
        item = page.locator("#products li", has_text="Longan box")
        await expect(item).to_contain_text("5 kg", timeout=SLOW)
        (made,) = (await api.ok("GET", "/api/products", token))["products"]
        assert made["description"] == "Picked this morning" and made["shipping_fee"] == 650
        assert made["thumb"].startswith("/uploads/") and made["image"].endswith("-card.jpg")
        variants = {v["label"]: v for v in made["variants"]}
        assert {k: (v["price"], v["stock"]) for k, v in variants.items()} == {
            "2 kg": (3000, 12), "5 kg": (6800, 5)}
        await page.screenshot(path=str(artifacts / "studio-catalogue-variants-en.png"))
        await page.locator("#manage-close").tap()
        await expect(page.locator("#manage")).to_be_hidden()
        # A flash sale is of one variant.
        await page.get_by_role("button", name="Flash sale of Longan box").tap()
        sheet = page.locator("#sale-sheet")
        await sheet.get_by_label("Product", exact=True).select_option(
            variants["5 kg"]["product_id"])
        await expect(sheet.get_by_label("Sale price")).to_have_value("68.00")
        await sheet.get_by_label("Sale price").fill("55")
        await sheet.get_by_label("Quantity").fill("3")
        await sheet.get_by_role("button", name="Start flash sale").tap()
        await expect(sheet).to_be_hidden(timeout=SLOW)
        (sale,) = (await api.ok("GET", f"/api/rooms/{room_id}/state"))["sales"]
        assert (sale["product_id"], sale["price"]) == (variants["5 kg"]["product_id"], 5500)
        # Archive, restore, delete (after a confirm).
        await page.locator("#manage-open").tap()
        await page.locator("#tab-products").tap()
        await item.get_by_role("button", name="Archive Longan box").tap()
        await expect(item).to_have_count(0, timeout=SLOW)
        archived = (await api.ok("GET", "/api/products?status=archived", token))["products"]
        assert made["product_id"] in [p["product_id"] for p in archived]
        await expect(page.locator("#chips li")).to_have_count(0)
        await page.locator("#archived-box summary").tap()
        await page.get_by_role("button", name="Restore Longan box").tap()
        await expect(item).to_have_count(1, timeout=SLOW)
        await item.get_by_role("button", name="Delete Longan box").tap()
        await page.get_by_role("dialog", name="Delete Longan box?").get_by_role(
            "button", name="Delete").tap()
        await expect(item).to_have_count(0, timeout=SLOW)
        assert (await api.ok("GET", "/api/products", token))["products"] == []
        # Chat: nicknames, the host's own post, a pinned message, mute and unmute, blocked words.
        _, viewer = await api.viewer()
        chat_url = f"/api/rooms/{room_id}/chat"
        asked = await api.ok("POST", chat_url, viewer, {"text": "Are they sweet?", "name": "Mei"})
        await page.locator("#tab-chat").tap()
        line = page.locator(f'#chat li[data-message-id="{asked["message_id"]}"]')
        await expect(line).to_contain_text("Mei", timeout=SLOW)
        await expect(page.locator("#ticker")).to_contain_text("Are they sweet?")
        await page.get_by_label("Say something to viewers").fill("Very sweet, picked today!")
        await page.get_by_role("button", name="Send", exact=True).tap()
        host_line = page.locator('#chat li[data-role="host"]')
        await expect(host_line).to_contain_text("Very sweet", timeout=SLOW)
        await expect(host_line.locator(".badge.host")).to_have_text("Host")
        chat = (await api.ok("GET", f"/api/rooms/{room_id}/state"))["chat"]
        assert [m["role"] for m in chat] == ["viewer", "host"], chat
        await line.get_by_role("button", name="Pin the message from Mei").tap()
        await expect(page.locator("#chat-pinned")).to_contain_text("sweet?", timeout=SLOW)
        pinned = (await api.ok("GET", f"/api/rooms/{room_id}/state"))["pinned_message"]
        assert pinned["message_id"] == asked["message_id"], pinned
        await line.get_by_role("button", name="Mute Mei").tap()
        await expect(page.locator("#mutes li")).to_have_count(1, timeout=SLOW)
        assert (await api.call("POST", chat_url, viewer, {"text": "x"}))[0] == 403
        await page.locator("#mutes").get_by_role("button", name="Unmute Mei").tap()
        await expect(page.locator("#mutes li")).to_have_count(0, timeout=SLOW)
        await api.ok("POST", chat_url, viewer, {"text": "thanks"})
        await page.get_by_label("Blocked words").fill("cheap, spam")
        await page.get_by_role("button", name="Save blocked words").tap()
        await expect(page.locator("#chat-msg")).to_contain_text("saved", timeout=SLOW)
        words = await api.ok("GET", f"{chat_url}/filter", token)
        assert sorted(words["words"]) == ["cheap", "spam"], words
        status, body = await api.call("POST", chat_url, viewer, {"text": "so CHEAP"})
        assert status == 400 and body["error"]["code"] == "filtered", body
        await page.screenshot(path=str(artifacts / "studio-chat-en.png"))
    assert not [line for line in logs if "pageerror" in line], logs


@pytest.mark.timeout(120)
async def test_phone_on_its_side_publishes_landscape_and_long_press_opens_the_sale(
        server: Running, artifacts: Path) -> None:
    _, token = await server.new_host("Sideways farm")
    room_id = (await server.new_room(token, "Sideways"))["room_id"]
    logs: list[str] = []
    async with aiohttp.ClientSession() as http, chromium() as browser:
        await Api(server.base, http).product(token, title=PRODUCT, price=2590)
        page = await phone_page(browser, logs, "landscape",
                                viewport={"width": 844, "height": 390})
        await open_signed_in(page, server.base, room_id, token)
        chip = page.locator("#chips .chip-main").first
        await expect(chip).to_be_visible(timeout=SLOW)
        golive = page.get_by_role("button", name="Go live", exact=True)
        await golive.tap()
        await expect(page.locator("#status")).to_have_text("live", timeout=SLOW)
        sent = await page.evaluate(SENT)
        assert sent["width"] > sent["height"] > 0, f"published track not landscape: {sent}"
        assert sent["scroll"] <= 390 and sent["sideways"] <= 0, sent
        for control in (chip, page.get_by_role("button", name="End", exact=True)):
            box = await control.bounding_box()
            assert box and box["y"] >= 0 and box["y"] + box["height"] <= 390.5, box
        await page.screenshot(path=str(artifacts / "studio-landscape-en.png"))
        # Flip and mute while live: the sender gets the new track, no new offer.
        before = await page.evaluate(SENDER)
        await page.get_by_role("button", name="Flip camera").tap()
        await page.wait_for_function(f"() => ({SENDER})().video !== {before['video']!r}")
        await page.get_by_role("button", name="Mute microphone").tap()
        after = await page.evaluate(SENDER)
        assert after["audioOn"] is False and after["sdp"] == before["sdp"], (before, after)
        await expect(page.locator("#status")).to_have_text("live")
        await page.get_by_role("button", name="Unmute microphone").tap()
        assert (await page.evaluate(SENDER))["audioOn"] is True
        # Holding a chip opens the flash-sale sheet (and does not pin it).
        await chip.dispatch_event("pointerdown")
        await expect(page.locator("#sale-sheet")).to_be_visible(timeout=SLOW)
        await page.screenshot(path=str(artifacts / "studio-landscape-sale-en.png"))
        await chip.dispatch_event("pointerup")
        await expect(chip).to_have_attribute("aria-pressed", "false")
    assert not [line for line in logs if "pageerror" in line], logs
