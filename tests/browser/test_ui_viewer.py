"""The viewer player (/watch/{room_id}) in real headless Chromium, end to end: two viewers (one
on a 375 px phone in Japanese) watch an aiortc host; the host pins a card and starts a flash
sale of 3 over HTTP; viewer 1 buys with the form (asked once) and sees the order confirmed and
later shipped; both see the stock fall; chat and likes go from one page to the other; the
host leaves and comes back; viewer 2's connection is cut and the page reconnects by itself and
shows the room as it is now."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, expect

from helpers.browser import (
    check_out,
    chromium,
    collect_logs,
    logged_page,
    more_frames,
    no_sideways_scroll,
    seconds,
)
from helpers.clients import Publisher, publish, wait_for
from helpers.servers import Running
from helpers.shop import Api

pytestmark = [
    pytest.mark.browser,
]

PRODUCT = "Hainan Tainong mangoes 2 kg"
TRACKING = "SF1234567890"
LIVE_TIMEOUT = 30_000  # ms: two pages and an aiortc publisher on a busy 2-core machine
STEP = 15_000


@pytest.mark.timeout(170)
async def test_viewer_player_in_chromium(server: Running, artifacts: Path) -> None:
    _, host = await server.new_host()
    room = await server.new_room(host, title="Mango orchard live")
    logs: list[str] = []
    timings: dict[str, Any] = {}
    t0 = time.monotonic()
    async with aiohttp.ClientSession() as http:
        api = Api(server.base, http)
        pub = await publish(server.base, room["room_id"], room["stream_key"])
        try:
            async with chromium() as browser:
                pub = await story(server, api, host, room, pub, browser, logs, timings,
                                  artifacts)
        finally:
            await pub.stop()
            (artifacts / "viewer-console.log").write_text("\n".join(logs) + "\n")
            timings["total_s"] = round(time.monotonic() - t0, 2)
            (artifacts / "viewer-timings.json").write_text(json.dumps(timings, indent=2) + "\n")
    assert not [line for line in logs if "pageerror" in line], logs


async def story(server: Running, api: Api, host: str, room: dict[str, str], pub: Publisher,
                browser: Browser, logs: list[str], timings: dict[str, Any],
                artifacts: Path) -> Publisher:
    rid = room["room_id"]
    t = time.monotonic()

    def lap(name: str) -> None:
        nonlocal t
        timings[name] = round(time.monotonic() - t, 2)
        t = time.monotonic()

    # Viewer 1 on a desktop in English; viewer 2 on a 375 px phone in Japanese.
    ctx1 = await browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    ctx2 = await browser.new_context(viewport={"width": 375, "height": 740}, locale="ja-JP",
                                     is_mobile=True, has_touch=True)
    v1, v2 = await ctx1.new_page(), await ctx2.new_page()
    collect_logs(v1, "v1", logs)
    collect_logs(v2, "v2", logs)
    await asyncio.gather(v1.goto(room["watch_url"]), v2.goto(room["watch_url"]))
    await expect(v1.locator("#title")).to_have_text("Mango orchard live")
    await expect(v1.locator("#status")).to_have_text("live", timeout=LIVE_TIMEOUT)
    await expect(v2.locator("#status")).to_have_text("ライブ配信中", timeout=LIVE_TIMEOUT)
    lap("both_live_s")
    state = await v1.evaluate("() => { const v = document.getElementById('video');"
                              " return {muted: v.muted, paused: v.paused}; }")
    assert state == {"muted": True, "paused": False}, state
    await expect(v1.get_by_role("button", name="Tap to unmute")).to_be_visible()
    await expect(v2.get_by_role("button", name="タップして音声オン")).to_be_visible()
    identity = await v1.evaluate("() => JSON.parse(localStorage.getItem('stallcast.viewer'))")
    assert identity["viewer_id"].startswith("v_") and identity["token"], identity

    # The host pins a card and starts a flash sale of 3.
    product = await api.product(host, title=PRODUCT, price=3900, currency="CNY", stock=50,
                                description="Sweet, ripe, picked this morning.")
    pid = product["product_id"]
    await api.ok("PUT", f"/api/rooms/{rid}/pin", host, {"product_id": pid})
    sale = await api.sale(host, rid, pid, price=2900, quantity=3, duration=300,
                          per_buyer_limit=2)
    # CNY is "CN¥" in English and "元" in Japanese.
    for page, left, price in ((v1, "3 of 3 left", "CN¥29.00"), (v2, "残り 3 / 3", "元 29.00")):
        await expect(page.locator("#card")).to_be_visible(timeout=STEP)
        await expect(page.locator("#card-title")).to_have_text(PRODUCT)
        await expect(page.locator("#card-price")).to_have_text(re.compile(
            price.replace(" ", r"\s?").replace(".", r"\.")))
        await expect(page.locator("#sale")).to_be_visible()
        await expect(page.locator("#sale-stock")).to_have_text(left)
        await expect(page.locator("#sale-countdown")).to_have_text(re.compile(r"\d\d:\d\d"))
    first = seconds(await v1.locator("#sale-countdown").inner_text())
    assert 290 <= first <= 300, first
    await expect(v2.locator("#sale-countdown")).to_have_text(re.compile(r"^終了まで"))
    first_text = await v1.locator("#sale-countdown").inner_text()
    await expect(v1.locator("#sale-countdown")).not_to_have_text(first_text, timeout=5000)
    assert seconds(await v1.locator("#sale-countdown").inner_text()) < first
    lap("card_and_sale_s")
    await v1.screenshot(path=str(artifacts / "viewer-card.png"))
    await no_sideways_scroll(v2)
    await v2.screenshot(path=str(artifacts / "viewer-375-ja.png"), full_page=True)

    # A card click is counted by the server.
    await v1.locator("#card-open").click()
    await expect(v1.locator("#card-description")).to_have_text(
        "Sweet, ripe, picked this morning.")

    # Viewer 1 buys: name, phone and address in a labelled form, asked once.
    await check_out(v1, "CN¥29.00", STEP)
    orders = await api.orders(host, f"room_id={rid}")
    assert len(orders) == 1, orders
    order = orders[0]
    assert (order["status"], order["sale_id"], order["name"], order["quantity"]) == (
        "confirmed", sale["sale_id"], "Li Wei", 1), order
    assert order["buyer_id"] == identity["viewer_id"], order
    row = v1.locator(f"#orders li[data-order-id='{order['order_id']}']")
    await expect(row).to_contain_text("Confirmed")
    await expect(row).to_contain_text(PRODUCT)
    await expect(v1.locator("#sale-stock")).to_have_text("2 of 3 left", timeout=STEP)
    await expect(v2.locator("#sale-stock")).to_have_text("残り 2 / 3", timeout=STEP)
    lap("buy_s")
    await v1.screenshot(path=str(artifacts / "viewer-order.png"))

    # The details are remembered: the next checkout shows them instead of asking again.
    me = await api.ok("GET", "/api/me", identity["token"])
    assert me["contact"]["address"] == "8 Binhai Road, Haikou", me
    dialog = v1.get_by_role("dialog", name="Checkout")
    await v1.get_by_role("button", name="Buy", exact=True).click()
    await expect(dialog.locator("#contact-summary")).to_contain_text("Li Wei")
    await expect(dialog.get_by_label("Name")).to_be_hidden()
    await dialog.get_by_role("button", name="Cancel").click()
    await expect(dialog).to_be_hidden()

    # Viewer 2 (Japanese) asks for more than is left: the sheet keeps the quantity within
    # what is left and says so, translated.
    await v2.get_by_role("button", name="購入", exact=True).click()
    dialog2 = v2.get_by_role("dialog", name="ご注文手続き")
    await dialog2.get_by_label("数量").fill("3")
    await dialog2.get_by_label("お名前").fill("山田 花子")
    await expect(dialog2.get_by_label("数量")).to_have_value("2")
    await expect(dialog2.locator("#qty-hint")).to_have_text("最大 2 点")
    await expect(dialog2.get_by_role("button", name="1つ増やす")).to_be_disabled()
    await no_sideways_scroll(v2)
    await v2.screenshot(path=str(artifacts / "viewer-375-ja-refused.png"))
    await dialog2.get_by_role("button", name="キャンセル").click()
    lap("refusal_s")

    # The buyer's order_status event takes no room sequence number, so viewer 2 saw no gap
    # and had no reason to fetch a snapshot.
    assert await v2.evaluate("() => window.stallcast.resyncs") == 0

    # Chat from viewer 2 reaches viewer 1; likes add up on both pages.
    await v2.get_by_label("メッセージ").fill("甘いですか？")
    await v2.get_by_label("メッセージ").press("Enter")
    nick2 = v2.get_by_role("dialog", name="ニックネームを決める")  # asked on the first chat
    await nick2.get_by_label("ニックネーム").fill("花子")
    await nick2.get_by_role("button", name="保存して送信").click()
    await expect(v1.locator("#chat-list")).to_contain_text("甘いですか？", timeout=STEP)
    await expect(v2.locator("#chat-list li.mine")).to_contain_text("あなた")
    await expect(v1.locator("#chat-list li", has_text="甘いですか？")).to_contain_text("花子")
    await expect(v2.get_by_label("メッセージ")).to_have_value("")
    like = v2.get_by_role("button", name="いいね", exact=True)
    for _ in range(3):
        await like.click()
    await expect(v2.locator("#likes")).to_have_text("3 いいね", timeout=STEP)
    await expect(v1.locator("#likes")).to_have_text("3 likes", timeout=STEP)
    lap("chat_likes_s")

    # The host ships the order; viewer 1 sees it with the tracking number.
    await api.ok("POST", f"/api/orders/{order['order_id']}/ship", host,
                 {"tracking_number": TRACKING})
    await expect(row).to_contain_text(f"Shipped: tracking number {TRACKING}", timeout=STEP)
    await expect(v1.locator("#shop-status")).to_contain_text("Shipped")
    await expect(v2.locator("#orders li")).to_have_count(0)
    lap("shipped_s")
    await v1.screenshot(path=str(artifacts / "viewer-shipped.png"), full_page=True)

    # The host ends the sale early and schedules the next one: the banner goes, then counts
    # down to the new sale's start, with no buy button until it opens.
    await api.ok("POST", f"/api/sales/{sale['sale_id']}/end", host)
    await expect(v1.locator("#sale")).to_be_hidden(timeout=STEP)
    await expect(v1.locator("#card-price")).to_have_text("CN¥39.00")
    await api.sale(host, rid, pid, price=3300, quantity=10, duration=60, start_in=120)
    await expect(v1.locator("#sale-countdown")).to_have_text(
        re.compile(r"^starts in 0[12]:\d\d$"), timeout=STEP)
    await expect(v2.locator("#sale-countdown")).to_have_text(re.compile(r"^開始まで"))
    await expect(v1.locator("#sale-stock")).to_have_text("10 of 10 left")
    await expect(v1.locator("#sale-buy")).to_be_hidden()
    await expect(v1.locator("#card-price")).to_have_text("CN¥39.00")
    lap("sale_ended_and_scheduled_s")

    # The host's connection drops (no WHIP DELETE: not an ended show), then comes back.
    await pub.stop(delete=False)
    await expect(v1.locator("#status")).to_have_text("the host has left", timeout=STEP)
    await expect(v2.locator("#status")).to_have_text("配信者が退出しました", timeout=STEP)
    await expect(v1.locator("#stage-note")).to_be_visible()
    await v1.screenshot(path=str(artifacts / "viewer-host-left.png"))
    pub = await publish(server.base, rid, room["stream_key"])
    await expect(v1.locator("#status")).to_have_text("live", timeout=LIVE_TIMEOUT)
    await expect(v2.locator("#status")).to_have_text("ライブ配信中", timeout=LIVE_TIMEOUT)
    await expect(v1.locator("#stage-note")).to_be_hidden()
    await more_frames(v1)
    lap("host_left_and_back_s")

    # Viewer 2's connection drops. While it is down the host unpins the card and viewer 1
    # chats; the page reconnects by itself, ends the old session and shows the room as it is.
    router = server.ctx.sfu.routers[rid]
    assert len(router.viewers) == 2
    await v2.evaluate("() => window.stallcast.pc.close()")
    await api.ok("DELETE", f"/api/rooms/{rid}/pin", host)
    await v1.get_by_label("Message").fill("Still there?")
    await v1.get_by_role("button", name="Send", exact=True).click()
    nick1 = v1.get_by_role("dialog", name="Pick a nickname")
    await nick1.get_by_label("Nickname").fill("Li Wei")
    await nick1.get_by_role("button", name="Save and send").click()
    await v2.wait_for_function("() => window.stallcast.reconnects >= 1", timeout=STEP)
    await expect(v2.locator("#status")).to_have_text("ライブ配信中", timeout=LIVE_TIMEOUT)
    await expect(v2.locator("#card")).to_be_hidden()
    await expect(v2.locator("#chat-list")).to_contain_text("Still there?")
    await expect(v2.locator("#chat-list")).to_contain_text("甘いですか？")
    await expect(v2.locator("#sale-stock")).to_have_text("残り 10 / 10")
    await expect(v2.locator("#sale-countdown")).to_have_text(re.compile(r"^開始まで"))
    await expect(v2.locator("#likes")).to_have_text("3 いいね")
    log = await v2.evaluate("() => window.stallcast.statusLog")
    assert "reconnecting" in log, log
    await more_frames(v2)
    assert await wait_for(lambda: len(router.viewers) == 2, 10), "old session not ended"
    lap("reconnect_s")
    await v2.screenshot(path=str(artifacts / "viewer-375-ja-reconnected.png"))

    # The language switch in the header re-renders the page in place.
    await v1.get_by_label("Language").select_option("zh")
    await expect(v1.locator("#status")).to_have_text("直播中")
    await expect(v1.locator("#likes")).to_have_text("3 个赞")
    await expect(row).to_contain_text(f"已发货：运单号 {TRACKING}")
    await v1.get_by_label("语言").select_option("en")
    await expect(v1.locator("#status")).to_have_text("live")
    lap("language_s")
    await ctx1.close()
    await ctx2.close()
    return pub


async def test_msgpack_encoder_matches_python(server: Running) -> None:
    """web_client/shared/wire.js (the vendored @msgpack/msgpack) encode() writes what Python's
    msgpack (the server) reads, and decode(encode(x)) gives x back."""
    import msgpack

    value = {
        "type": "buy", "sale_id": "s_" + "x" * 40, "quantity": 1, "ref": 7, "ok": True,
        "no": False, "none": None, "neg": -3, "neg8": -100, "neg16": -30000,
        "neg32": -2_000_000_000, "neg64": -(2**40), "u8": 200, "u16": 60000,
        "u32": 4_000_000_000, "u64": 2**53 - 1, "float": -0.5, "unicode": "山田 花子 🥭",
        "long": "y" * 300, "list": [1, "two", [3.5, None], {"k": "v"}],
        "big_list": list(range(20)), "big_map": {f"k{i}": i for i in range(20)},
    }
    async with chromium() as browser:
        page = await browser.new_page()
        await page.goto(f"{server.base}/")
        out = await page.evaluate(
            """async (value) => {
                const { encode, decode } = await import("/static/shared/wire.js");
                const bytes = encode({ ...value, skipped: undefined });
                return { bytes: Array.from(bytes), back: decode(bytes),
                         bin: Array.from(encode(new Uint8Array([1, 2, 3]))) };
            }""",
            value,
        )
    assert msgpack.unpackb(bytes(out["bytes"])) == value
    assert out["back"] == value
    assert bytes(out["bin"]) == msgpack.packb(b"\x01\x02\x03")


async def test_class_store_pages_follow_the_language(server: Running, artifacts: Path) -> None:
    """The class list and class page take their words from the catalogues: Japanese from the
    browser's language, Chinese after the switch in the header."""
    logs: list[str] = []
    async with chromium() as browser:
        page = await logged_page(browser, "classes", logs,
                                 viewport={"width": 375, "height": 700}, locale="ja-JP")
        await page.goto(f"{server.base}/classes")
        await expect(page.get_by_role("heading", name="講座")).to_be_visible()
        await expect(page.locator("#status")).to_have_text("講座はまだありません。")
        await expect(page.get_by_role("list", name="録画された講座")).to_be_attached()
        await page.get_by_label("言語").select_option("zh")
        await expect(page.get_by_role("heading", name="课程")).to_be_visible()
        await expect(page.locator("#status")).to_have_text("还没有课程。")
        assert await page.title() == "课程 · Stallcast"
        await page.goto(f"{server.base}/classes/c_missing")  # the choice is remembered
        await expect(page.locator("#status")).to_have_text("没有这个课程，可能已经下架。")
        await expect(page.get_by_role("heading", name="课程")).to_be_visible()
        await expect(page.get_by_role("link", name="全部课程")).to_be_visible()
        await no_sideways_scroll(page)
        await page.screenshot(path=str(artifacts / "viewer-classes-zh.png"))
        await page.context.close()
    assert not [line for line in logs if "pageerror" in line], logs
