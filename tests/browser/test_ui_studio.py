"""The host studio in real headless Chromium, end to end: sign in with the host token, create a
room, go live with the fake camera, add and pin a product, run a flash sale while a viewer buys
over HTTP, ship the order, moderate chat, download the CSV, end the stream, turn the recording
into a class, and switch the page to Japanese and Chinese."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Page, expect

from helpers.browser import chromium, collect_logs, start_flash_sale
from helpers.clients import watch
from helpers.servers import Running
from helpers.shop import CONTACT, Api

pytestmark = [
    pytest.mark.browser,
]

# Generous: the machine has two cores and other browser tests may run at the same time.
SLOW = 30_000
PRODUCT = "Musang King durian 1 kg"
ROOM_TITLE = "Durian night market"
TRACKING = "SF1234567890"

# Every visible form control that has no accessible name (label or aria-label).
UNLABELLED = """
() => [...document.querySelectorAll("input, select, textarea")]
  .filter((el) => el.offsetParent !== null && el.type !== "hidden")
  .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute("aria-label"))
  .map((el) => el.id || el.outerHTML.slice(0, 80))
"""


class Steps:
    """Seconds each step of the story took, for test-artifacts/studio-timings.json."""

    def __init__(self) -> None:
        self.times: dict[str, Any] = {}
        self.t = time.monotonic()

    def done(self, name: str) -> None:
        now = time.monotonic()
        self.times[name] = round(now - self.t, 2)
        self.t = now


@pytest.mark.timeout(180)
async def test_host_studio_in_chromium(server: Running, artifacts: Path) -> None:
    _, token = await server.new_host()
    logs: list[str] = []
    steps = Steps()
    start = time.monotonic()
    try:
        async with aiohttp.ClientSession() as http, chromium() as browser:
            context = await browser.new_context(viewport={"width": 1280, "height": 900},
                                                permissions=["camera", "microphone"],
                                                accept_downloads=True, locale="en-US")
            page = await context.new_page()
            collect_logs(page, "", logs)
            await run_story(server, Api(server.base, http), token, page, steps, artifacts)
    finally:
        (artifacts / "studio-console.log").write_text("\n".join(logs) + "\n")
        steps.times["total_s"] = round(time.monotonic() - start, 2)
        (artifacts / "studio-timings.json").write_text(json.dumps(steps.times, indent=2) + "\n")
    assert not [line for line in logs if line.startswith("[pageerror]")], logs


async def run_story(server: Running, api: Api, token: str, page: Page, steps: Steps,
                    artifacts: Path) -> None:
    room_id = await sign_in_and_create_room(server, token, page)
    steps.done("sign_in_and_room_s")
    await go_live(server, page, room_id)
    steps.done("live_s")
    # One real WHEP viewer; "Viewers now" counts it and not the studio's own events connection.
    viewer = await watch(server.base, room_id, data_channel=False)
    try:
        product_id = await add_and_pin_product(api, token, page, room_id)
        steps.done("product_pinned_s")
        order_id = await flash_sale_and_buy(api, page, room_id, product_id, steps)
        await ship(api, token, page, order_id)
        steps.done("shipped_s")
        await moderate_chat(api, page, room_id)
        steps.done("chat_moderated_s")
        csv = await download_csv(page)
        assert order_id in csv and TRACKING in csv, csv
        await expect(page.locator("#viewers-now")).to_have_text("1", timeout=SLOW)
        await expect(page.locator("#viewers-peak")).to_have_text("1")
        steps.done("csv_and_audience_s")
    finally:
        await viewer.stop()
    # The stock, chat and card changes came over the studio's data channel (docs/events.md).
    kinds = {e["type"] for e in await page.evaluate("() => window.stallcast.events")}
    assert {"welcome", "card_pinned", "sale_started", "sale_stock", "chat", "viewer_muted",
            "chat_deleted"} <= kinds, kinds
    assert await page.evaluate(UNLABELLED) == []
    await page.screenshot(path=str(artifacts / "studio-live.png"), full_page=True)
    await end_and_make_class(api, page, room_id)
    steps.done("ended_and_class_s")
    await switch_languages(page, artifacts)
    await narrow_screen(page, artifacts)
    steps.done("languages_and_375px_s")
    await page.set_viewport_size({"width": 1280, "height": 900})
    await page.get_by_role("link", name="All rooms").click()
    room = page.locator("#rooms li", has_text=ROOM_TITLE)
    open_link = room.get_by_role("link", name=f"Open the studio of {ROOM_TITLE}")
    await expect(open_link).to_have_attribute("href", f"/studio/{room_id}", timeout=SLOW)
    await page.screenshot(path=str(artifacts / "studio-rooms.png"))
    await page.get_by_role("button", name="Sign out", exact=True).click()
    await expect(page.get_by_label("Host token")).to_be_visible()
    assert await page.evaluate("() => localStorage.getItem('stallcast.hostToken')") is None


async def sign_in_and_create_room(server: Running, token: str, page: Page) -> str:
    await page.goto(f"{server.base}/studio")
    await page.get_by_label("Host token").fill("not-a-token")
    await page.get_by_role("button", name="Sign in", exact=True).click()
    await expect(page.locator("#signin-msg")).to_contain_text("not known", timeout=SLOW)
    await page.get_by_label("Host token").fill(token)
    await page.get_by_role("button", name="Sign in", exact=True).click()
    await expect(page.get_by_role("heading", name="Your rooms")).to_be_visible(timeout=SLOW)
    await expect(page.locator("#rooms-msg")).to_contain_text("No rooms yet")
    await page.get_by_label("New room title").fill(ROOM_TITLE)
    await page.get_by_role("button", name="Create room", exact=True).click()
    await page.wait_for_url(re.compile(r"/studio/[^/]+$"), timeout=SLOW)
    room_id = page.url.rstrip("/").split("/")[-1]
    await expect(page.locator("#title")).to_have_text(f"Studio: {ROOM_TITLE}", timeout=SLOW)
    room = await server.ctx.store.get_room(room_id)
    assert room is not None and room.title == ROOM_TITLE
    # Signed in, the studio knows the stream key: nobody has to paste it.
    await expect(page.get_by_label("Stream key")).to_be_hidden()
    await expect(page.get_by_role("link", name="All rooms")).to_be_visible()
    return room_id


async def go_live(server: Running, page: Page, room_id: str) -> None:
    camera = page.get_by_label("Camera", exact=True)
    await expect(camera.locator("option")).not_to_have_count(0, timeout=SLOW)
    await expect(camera).not_to_have_value("", timeout=SLOW)
    await expect(page.get_by_label("Microphone", exact=True)).not_to_have_value("")
    await expect(page.locator("#status")).to_have_text("offline")
    await page.get_by_role("button", name="Go live", exact=True).click()
    await expect(page.locator("#status")).to_have_text("live", timeout=SLOW)
    assert server.ctx.sfu.routers[room_id].live
    # Uplink health from the publisher's getStats(), every 2 s, judged ok / warn / bad.
    health = page.locator("#health")
    await expect(health).to_have_attribute("data-level", re.compile("^(ok|warn|bad)$"),
                                           timeout=SLOW)
    await expect(page.locator("#h-size")).to_have_text(re.compile(r"^\d+×\d+$"), timeout=SLOW)
    figures = await page.evaluate("() => window.stallcast.health")
    assert figures["kbps"] > 0 and figures["width"] > 0, figures
    await expect(page.locator("#h-bitrate")).to_have_text(re.compile(r"^\d+ kbps$"))


async def add_and_pin_product(api: Api, token: str, page: Page, room_id: str) -> str:
    await page.locator("#tab-products").click()
    await page.get_by_label("Product name").fill(PRODUCT)
    await page.get_by_label("Price", exact=True).fill("88.5")
    await page.get_by_label("Currency", exact=True).select_option("CNY")
    await page.get_by_label("Stock", exact=True).fill("40")
    await page.get_by_label("Limit per buyer").fill("3")
    await page.get_by_label("Image URL").fill("/static/no-such-image.jpg")
    await page.get_by_role("button", name="Add product", exact=True).click()
    item = page.locator("#products li", has_text=PRODUCT)
    await expect(item).to_be_visible(timeout=SLOW)
    await expect(item).to_contain_text("CN¥88.50")
    products = (await api.ok("GET", "/api/products", token))["products"]
    assert [(p["title"], p["price"], p["stock"], p["per_buyer_limit"]) for p in products] == [
        (PRODUCT, 8850, 40, 3)]
    product_id: str = products[0]["product_id"]

    # Edit the price: major units in the form, minor units on the server.
    await item.get_by_role("button", name=f"Edit {PRODUCT}", exact=True).click()
    await expect(page.get_by_label("Price", exact=True)).to_have_value("88.50")
    await page.get_by_label("Price", exact=True).fill("79.90")
    await page.get_by_role("button", name="Save changes", exact=True).click()
    await expect(item).to_contain_text("CN¥79.90", timeout=SLOW)
    assert (await api.ok("GET", f"/api/products/{product_id}", token))["price"] == 7990

    await item.get_by_role("button", name=f"Pin {PRODUCT}", exact=True).click()
    await expect(item.locator(".badge.pinned")).to_have_text("Pinned", timeout=SLOW)
    state = await api.ok("GET", f"/api/rooms/{room_id}/state")
    assert state["pinned"]["product_id"] == product_id and state["pinned"]["price"] == 7990
    # Keyboard: the focus stays on the toggle as the list refreshes under it.
    unpin = item.get_by_role("button", name=f"Unpin {PRODUCT}", exact=True)
    await expect(unpin).to_be_focused()
    await page.keyboard.press("Enter")
    pin = item.get_by_role("button", name=f"Pin {PRODUCT}", exact=True)
    await expect(pin).to_be_focused(timeout=SLOW)
    assert (await api.ok("GET", f"/api/rooms/{room_id}/state"))["pinned"] is None
    await page.keyboard.press("Enter")
    await expect(unpin).to_be_focused(timeout=SLOW)
    await expect(item.locator(".badge.pinned")).to_have_text("Pinned")
    return product_id


async def flash_sale_and_buy(api: Api, page: Page, room_id: str, product_id: str,
                             steps: Steps) -> str:
    await page.locator("#tab-sales").click()
    await page.locator("#sale-new").click()
    sale_item = await start_flash_sale(page, PRODUCT, "59.90", "5", "30", SLOW, option=product_id)
    countdown = sale_item.locator(".countdown")
    await expect(countdown).to_have_text(re.compile(r"^Ends in 0:(30|2\d)$"), timeout=SLOW)
    state = await api.ok("GET", f"/api/rooms/{room_id}/state")
    (sale,) = state["sales"]
    assert (sale["price"], sale["quantity"], sale["remaining"]) == (5990, 5, 5), sale
    steps.done("sale_started_s")

    # A viewer buys one over HTTP; the studio sees the stock fall and the order arrive.
    _, viewer = await api.viewer()
    bought = time.monotonic()
    order = await api.ok("POST", f"/api/rooms/{room_id}/buy", viewer, {
        "sale_id": sale["sale_id"], "idempotency_key": f"studio-{uuid.uuid4().hex[:12]}",
        "contact": CONTACT})
    await expect(sale_item).to_contain_text("4 of 5 left", timeout=SLOW)
    steps.times["stock_seen_after_buy_s"] = round(time.monotonic() - bought, 2)
    await page.locator("#tab-orders").click()
    order_item = page.locator(f'#orders li[data-order-id="{order["order_id"]}"]')
    await expect(order_item).to_be_visible(timeout=SLOW)
    steps.times["order_seen_after_buy_s"] = round(time.monotonic() - bought, 2)
    await expect(order_item).to_contain_text(CONTACT["name"])
    await expect(order_item).to_contain_text("CN¥59.90")
    await expect(order_item.locator(".badge.pinned")).to_have_text("New")
    await expect(page.locator("#orders-msg")).to_contain_text("New order")
    # The countdown keeps running.
    first = await countdown.text_content()
    await expect(countdown).not_to_have_text(first or "", timeout=5_000)
    steps.done("bought_s")
    return str(order["order_id"])


async def ship(api: Api, token: str, page: Page, order_id: str) -> None:
    item = page.locator(f'#orders li[data-order-id="{order_id}"]')
    await item.get_by_label("Tracking number").fill(TRACKING)
    await item.get_by_role("button", name=f"Mark order {order_id} shipped", exact=True).click()
    await expect(item.locator(".order-status")).to_have_text("Shipped", timeout=SLOW)
    await expect(item).to_contain_text(f"Tracking: {TRACKING}")
    orders = await api.orders(token)
    assert [(o["order_id"], o["status"], o["tracking_number"]) for o in orders] == [
        (order_id, "shipped", TRACKING)]


async def moderate_chat(api: Api, page: Page, room_id: str) -> None:
    await page.locator("#tab-chat").click()
    viewer_id, viewer = await api.viewer()
    _, other = await api.viewer()
    message = await api.ok("POST", f"/api/rooms/{room_id}/chat", viewer,
                           {"text": "Is it creamy?", "name": "Ah Ming"})
    await api.ok("POST", f"/api/rooms/{room_id}/chat", other,
                 {"text": "Mine arrived fresh", "name": "Kiko"})
    item = page.locator(f'#chat li[data-message-id="{message["message_id"]}"]')
    await expect(item).to_contain_text("Is it creamy?", timeout=SLOW)
    await expect(page.locator("#chat li")).to_have_count(2)
    await item.get_by_role("button", name="Mute Ah Ming", exact=True).click()
    await expect(item.locator(".badge.bad")).to_have_text("Muted", timeout=SLOW)
    status, body = await api.call("POST", f"/api/rooms/{room_id}/chat", viewer,
                                  {"text": "let me talk", "name": "Ah Ming"})
    assert status == 403, body
    await item.get_by_role("button", name=re.compile("^Delete the message from Ah Ming")).click()
    await expect(item).to_have_count(0, timeout=SLOW)
    await expect(page.locator("#chat li")).to_have_count(1)
    state = await api.ok("GET", f"/api/rooms/{room_id}/state")
    assert [m["text"] for m in state["chat"]] == ["Mine arrived fresh"], state["chat"]
    assert viewer_id.startswith("v_")


async def download_csv(page: Page) -> str:
    await page.locator("#tab-orders").click()
    async with page.expect_download(timeout=SLOW) as info:
        await page.get_by_role("button", name="Download CSV", exact=True).click()
    download = await info.value
    path = await download.path()
    assert download.suggested_filename.endswith(".csv")
    return Path(path).read_text()


async def end_and_make_class(api: Api, page: Page, room_id: str) -> None:
    await page.get_by_role("button", name="End", exact=True).click()
    await page.get_by_role("dialog").get_by_role("button", name="End now").click()
    await expect(page.locator("#status")).to_have_text("ended", timeout=SLOW)
    await page.locator("#tab-sessions").click()
    session = page.locator("#sessions li").first
    await expect(session).to_have_attribute("data-status", re.compile("^(packaging|ready)$"),
                                            timeout=SLOW)
    await expect(session.locator(".session-status")).to_have_text(
        re.compile("^(Packaging|Recording ready)$"))
    session_id = await session.get_attribute("data-session-id")
    await session.get_by_label("Class price").fill("19.90")
    await session.get_by_label("Free preview (seconds)").fill("30")
    await session.get_by_role("button", name=f"Create a class from {ROOM_TITLE}",
                              exact=True).click()
    link = session.get_by_role("link", name="Open class page")
    await expect(link).to_be_visible(timeout=SLOW)
    href = await link.get_attribute("href")
    assert href and href.startswith("/classes/c_"), href
    cls = await api.ok("GET", f"/api/classes/{href.split('/')[-1]}")
    assert (cls["title"], cls["price"], cls["preview_seconds"]) == (ROOM_TITLE, 1990, 30), cls
    assert session_id and session_id.startswith("sess_")
    assert room_id


async def switch_languages(page: Page, artifacts: Path) -> None:
    language = page.locator("#lang")
    await page.locator("#tab-sales").click()
    await language.select_option("ja")
    await expect(page.get_by_role("button", name="ライブ開始", exact=True)).to_be_visible(
        timeout=SLOW)
    await expect(page.get_by_role("heading", name="タイムセール", exact=True)).to_be_visible()
    await expect(page.locator("#status")).to_have_text("終了しました")
    await expect(page.locator("html")).to_have_attribute("lang", "ja")
    await page.screenshot(path=str(artifacts / "studio-ja.png"), full_page=True)
    await page.locator("#tab-orders").click()
    await page.get_by_label("言語").select_option("zh")
    await expect(page.get_by_role("button", name="开始直播", exact=True)).to_be_visible(
        timeout=SLOW)
    await expect(page.get_by_role("heading", name="订单")).to_be_visible()
    await expect(page.locator("#orders li .order-status")).to_have_text("已发货")
    await page.screenshot(path=str(artifacts / "studio-zh.png"), full_page=True)
    await page.get_by_label("语言").select_option("en")
    await expect(page.get_by_role("button", name="Go live", exact=True)).to_be_visible(
        timeout=SLOW)


async def narrow_screen(page: Page, artifacts: Path) -> None:
    await page.set_viewport_size({"width": 375, "height": 800})
    await page.wait_for_timeout(300)
    overflow = await page.evaluate(
        "() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"studio scrolls sideways on a 375px screen by {overflow}px"
    # The chip tray and the tab bar scroll sideways inside themselves, on purpose.
    wide = await page.evaluate("""() => [...document.querySelectorAll('#room-view *, header *')]
        .filter((el) => el.offsetParent !== null && !el.closest('.scroll-x'))
        .filter((el) => el.getBoundingClientRect().right > 376)
        .map((el) => el.id || el.className || el.tagName).slice(0, 5)""")
    assert wide == [], wide
    await page.screenshot(path=str(artifacts / "studio-375.png"), full_page=True)


async def test_studio_pages_through_older_orders(server: Running, artifacts: Path) -> None:
    """A room with more orders than a page: the newest 50 show, older ones on request, and
    a new order still lands on top."""
    _, token = await server.new_host()
    room = await server.new_room(token)
    rid = room["room_id"]
    logs: list[str] = []
    async with aiohttp.ClientSession() as http, chromium() as browser:
        api = Api(server.base, http)
        product = await api.product(token, stock=1000, per_buyer_limit=1000)
        await api.ok("POST", f"/api/rooms/{rid}/products", token,
                     {"product_id": product["product_id"]})
        _, viewer = await api.viewer()

        async def buy(key: str) -> None:
            await api.ok("POST", f"/api/rooms/{rid}/buy", viewer, {
                "product_id": product["product_id"], "quantity": 1, "idempotency_key": key,
                "contact": CONTACT})

        for i in range(60):
            await buy(f"older-{i:04d}")
        context = await browser.new_context(locale="en-US")
        await context.add_init_script(
            f"localStorage.setItem('stallcast.hostToken', {json.dumps(token)})")
        page = await context.new_page()
        collect_logs(page, "", logs)
        await page.goto(f"{server.base}/studio/{rid}")
        await page.locator("#tab-orders").click()
        orders = page.locator("#orders > li")
        await expect(page.locator("#orders-count")).to_have_text("60", timeout=SLOW)
        await expect(orders).to_have_count(50)
        more = page.get_by_role("button", name="Show older orders (50 of 60 shown)")
        await more.click()
        await expect(orders).to_have_count(60)
        await expect(more).to_be_hidden()
        await buy("newest-0001")
        await expect(page.locator("#orders-count")).to_have_text("61", timeout=SLOW)
        await expect(orders).to_have_count(61)
        await expect(orders.first).to_have_class(re.compile(r"\bfresh\b"))
        # A burst bigger than the shown list lands whole, and an old order's status, changed
        # elsewhere, is brought up to date.
        await asyncio.gather(*(buy(f"burst-{i:04d}") for i in range(80)))
        await expect(page.locator("#orders-count")).to_have_text("141", timeout=SLOW)
        await expect(orders).to_have_count(141)
        oldest = await orders.last.get_attribute("data-order-id")
        await api.ok("POST", f"/api/orders/{oldest}/ship", token, {"tracking_number": "SF9999"})
        await expect(orders.last).to_have_attribute("data-status", "shipped", timeout=SLOW)
        await page.screenshot(path=str(artifacts / "studio-older-orders.png"), full_page=True)
    assert not [line for line in logs if line.startswith("[pageerror]")], logs
