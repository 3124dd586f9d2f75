"""The player's live auction on a phone (390x844, touch) in real headless Chromium: the
current bid, the bidder's nickname and the countdown update live as others bid over HTTP,
the bid button names the next valid amount and places it over the data channel, an outbid
viewer is told so, and the winner gets the "you won — confirm" sheet, which confirms its
order with its address (paid by transfer: the sheet says how to pay, and the order waits
for the host). Screenshots: test-artifacts/player-auction-en.png, player-prize-pay-en.png."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import expect

from helpers.browser import chromium, collect_logs
from helpers.clients import publish
from helpers.servers import Running, start_server
from helpers.shop import CONTACT, Api

pytestmark = [pytest.mark.browser]

PHONE: dict[str, Any] = {"viewport": {"width": 390, "height": 844}, "is_mobile": True,
                         "has_touch": True, "locale": "en-US"}
LIVE = 30_000


@pytest.mark.timeout(150)
async def test_player_follows_and_places_bids(server: Running, artifacts: Path) -> None:
    _, host = await server.new_host("Jade workshop")
    room = await server.new_room(host, "Carved jade")
    rid = room["room_id"]
    logs: list[str] = []
    pub = await publish(server.base, rid, room["stream_key"])
    try:
        async with aiohttp.ClientSession() as http, chromium() as browser:
            api = Api(server.base, http)
            pid = (await api.product(host, title="Jade bangle", price=50000, stock=2,
                                     currency="USD"))["product_id"]
            rival_id, rival = await api.viewer()
            await api.ok("PUT", "/api/me", rival, {"nickname": "Rival"})
            page = await (await browser.new_context(**PHONE)).new_page()
            collect_logs(page, "player", logs)
            await page.goto(f"{server.base}/watch/{rid}")
            await page.wait_for_function(
                "() => window.stallcast.events.some(e => e.type === 'welcome')", timeout=LIVE)
            me = await page.evaluate("() => window.stallcast.viewerId")
            assert me and me != rival_id
            # A giveaway opened: the page says how to enter.
            await api.ok("POST", f"/api/rooms/{rid}/giveaways", host, {
                "product_id": pid, "winners": 1, "mode": "keyword", "keyword": "bangle"})
            await expect(page.locator("#auction-note")).to_have_text(
                "Giveaway Jade bangle: write “bangle” in chat to enter", timeout=LIVE)
            start = await api.ok("POST", f"/api/rooms/{rid}/auctions", host, {
                "product_id": pid, "start_price": 1000, "increment": 100, "duration_s": 40,
                "extend_s": 10, "confirm_s": 120})
            aid = start["auction_id"]
            panel = page.locator("#auction")
            await expect(panel).to_be_visible(timeout=LIVE)
            await expect(page.locator("#auction-item")).to_have_text("Jade bangle")
            await expect(page.locator("#auction-current")).to_have_text("$10.00")
            await expect(page.locator("#auction-bid")).to_have_text("Bid $10.00")
            # The countdown runs.
            countdown = page.locator("#auction-countdown")
            first = await countdown.text_content()
            await page.wait_for_timeout(1300)
            assert await countdown.text_content() != first
            # Someone else bids: the page shows the bid, the nickname, the next amount.
            await api.ok("POST", f"/api/rooms/{rid}/auctions/{aid}/bids", rival,
                         {"amount": 1000})
            await expect(page.locator("#auction-current")).to_have_text("$10.00")
            await expect(page.locator("#auction-leader")).to_contain_text("Rival",
                                                                            timeout=LIVE)
            await expect(page.locator("#auction-bid")).to_have_text("Bid $11.00")
            # The page bids the amount on its button.
            await page.locator("#auction-bid").click()
            await expect(page.locator("#auction-note")).to_have_text(
                "You have the highest bid", timeout=LIVE)
            bids = (await api.ok("GET", f"/api/rooms/{rid}/auctions/{aid}/bids", host))["bids"]
            assert [(b["bidder_id"], b["amount"]) for b in bids] == [(rival_id, 1000),
                                                                     (me, 1100)]
            await api.ok("POST", f"/api/rooms/{rid}/auctions/{aid}/bids", rival,
                         {"amount": 1300})
            await expect(page.locator("#auction-note")).to_have_text(
                "You were outbid — bid again?", timeout=LIVE)
            await expect(page.locator("#auction-current")).to_have_text("$13.00")
            await expect(page.locator("#auction-bid")).to_have_text("Bid $14.00")
            await page.locator("#auction-bid").click()
            await expect(page.locator("#auction-note")).to_have_text(
                "You have the highest bid", timeout=LIVE)
            await page.screenshot(path=str(artifacts / "player-auction-en.png"))
            # The host ends it: the page won, and confirms with its address.
            await api.ok("POST", f"/api/rooms/{rid}/auctions/{aid}/end", host)
            sheet = page.locator("#prize-sheet")
            await expect(sheet).to_be_visible(timeout=LIVE)
            await expect(page.locator("#prize-item")).to_contain_text("$14.00")
            await page.fill("#prize-name", CONTACT["name"])
            await page.fill("#prize-phone", CONTACT["phone"])
            await page.fill("#prize-address", CONTACT["address"])
            await page.locator("#prize-accept").click()
            await expect(sheet).to_be_hidden(timeout=LIVE)
            await expect(page.locator("#auction-note")).to_contain_text("Sold to")
            view = await api.ok("GET", f"/api/rooms/{rid}/auctions/{aid}", host)
            assert view["offered_to"] == me and view["winner_amount"] == 1400
            orders = [o for o in await api.orders(host) if o.get("prize_id") == aid]
            assert len(orders) == 1 and orders[0]["status"] == "confirmed"
            assert orders[0]["address"] == CONTACT["address"]
    finally:
        await pub.stop()
    assert not [line for line in logs if "pageerror" in line], logs


@pytest.mark.timeout(150)
async def test_studio_runs_an_auction_and_a_giveaway(server: Running, artifacts: Path) -> None:
    """The host on a phone starts an auction from the Sell pane, sees a viewer's bid by
    nickname, ends it (the winner is named), then opens a keyword giveaway and draws it."""
    _, host = await server.new_host("Jade workshop")
    rid = (await server.new_room(host, "Carved jade"))["room_id"]
    logs: list[str] = []
    async with aiohttp.ClientSession() as http, chromium() as browser:
        api = Api(server.base, http)
        await api.product(host, title="Jade ring", price=20000, stock=3, currency="USD")
        bidder_id, bidder = await api.viewer()
        await api.ok("PUT", "/api/me", bidder, {"nickname": "Collector"})
        page = await (await browser.new_context(**PHONE)).new_page()
        collect_logs(page, "studio", logs)
        await page.goto(f"{server.base}/studio/{rid}#signin={host}")
        await page.wait_for_function("() => document.body.dataset.ready === '1'", timeout=LIVE)
        if await page.locator("#manage-open").is_visible():
            await page.locator("#manage-open").click()
        await page.locator("#tab-sales").click()
        await expect(page.locator("#a-product")).to_contain_text("Jade ring", timeout=LIVE)
        await page.get_by_label("Starting price").fill("50")
        await page.get_by_label("Bid increment").fill("5")
        await page.get_by_label("Duration (s)").fill("120")
        await page.get_by_role("button", name="Start auction").click()
        await expect(page.locator("#auction-state")).to_contain_text("No bids yet",
                                                                     timeout=LIVE)
        aid = (await api.ok("GET", f"/api/rooms/{rid}/auction"))["auction"]["auction_id"]
        await api.ok("POST", f"/api/rooms/{rid}/auctions/{aid}/bids", bidder, {"amount": 5000})
        await expect(page.locator("#auction-bidline")).to_contain_text("$50.00 by Collector",
                                                                       timeout=LIVE)
        await expect(page.locator("#auction-leaders")).to_contain_text("Collector")
        await page.get_by_role("button", name="End now").click()
        await expect(page.locator("#auction-state")).to_contain_text(
            "Offered to Collector at $50.00", timeout=LIVE)
        await expect(page.get_by_role("button", name="Offer to runner-up")).to_be_visible()
        # A keyword giveaway: the bidder writes it, the host draws.
        await page.get_by_label("Who can win").select_option("keyword")
        await page.get_by_label("Keyword").fill("jade")
        await page.get_by_role("button", name="Open giveaway").click()
        item = page.locator("#giveaways li").first
        await expect(item).to_contain_text("keyword “jade”", timeout=LIVE)
        await api.ok("POST", f"/api/rooms/{rid}/chat", bidder, {"text": "I love JADE"})
        await item.get_by_role("button", name="Draw").click()
        await expect(page.locator("#giveaways li").first).to_contain_text(
            "Winners: Collector", timeout=LIVE)
        await expect(page.locator("#giveaways li").first).to_contain_text("1 candidates")
        await page.screenshot(path=str(artifacts / "studio-auction-en.png"), full_page=True)
        record = (await api.ok("GET", f"/api/rooms/{rid}/giveaways", host))["giveaways"][0]
        assert record["winner_ids"] == [bidder_id]
    assert not [line for line in logs if "pageerror" in line], logs


@pytest.mark.timeout(120)
async def test_transfer_prize_sheet_says_how_to_pay(redis_url: str, artifacts: Path) -> None:
    """Paid by transfer, the winner's sheet tells the amount, reference and deadline, and
    after it the order is held (reserved with the address) until the host confirms."""
    env = {"STALLCAST_COMMERCE_PAYMENT_PROVIDER": "manual"}
    logs: list[str] = []
    async with start_server(redis_url, env) as server, aiohttp.ClientSession() as http, \
            chromium() as browser:
        api = Api(server.base, http)
        _, host = await server.new_host("Jade workshop")
        room = await server.new_room(host, "Carved jade")
        rid = room["room_id"]
        pub = await publish(server.base, rid, room["stream_key"])
        try:
            pid = (await api.product(host, title="Jade bangle", price=50000, stock=2,
                                     currency="USD"))["product_id"]
            page = await (await browser.new_context(**PHONE)).new_page()
            collect_logs(page, "player", logs)
            await page.goto(f"{server.base}/watch/{rid}")
            await page.wait_for_function(
                "() => window.stallcast.events.some(e => e.type === 'welcome')", timeout=LIVE)
            aid = (await api.ok("POST", f"/api/rooms/{rid}/auctions", host, {
                "product_id": pid, "start_price": 1000, "increment": 100, "duration_s": 40,
                "extend_s": 0, "confirm_s": 600}))["auction_id"]
            await expect(page.locator("#auction-bid")).to_have_text("Bid $10.00", timeout=LIVE)
            await page.locator("#auction-bid").click()
            await expect(page.locator("#auction-note")).to_have_text(
                "You have the highest bid", timeout=LIVE)
            await api.ok("POST", f"/api/rooms/{rid}/auctions/{aid}/end", host)
            await expect(page.locator("#prize-sheet")).to_be_visible(timeout=LIVE)
            order = (await api.orders(host))[0]
            pay = page.locator("#prize-pay")
            await expect(pay).to_contain_text("held for you until you pay")
            await expect(pay).to_contain_text(f"Pay $10.00 by transfer with reference "
                                              f"{order['order_id']}")
            await expect(page.locator("#prize-accept")).to_have_text("Confirm address")
            await page.fill("#prize-name", CONTACT["name"])
            await page.fill("#prize-phone", CONTACT["phone"])
            await page.fill("#prize-address", CONTACT["address"])
            await page.screenshot(path=str(artifacts / "player-prize-pay-en.png"))
            await page.locator("#prize-accept").click()
            status = page.locator("#prize-status")
            await expect(status).to_contain_text(
                "held for you until the seller confirms your payment", timeout=LIVE)
            await expect(status).to_contain_text(f"reference {order['order_id']}")
            await expect(page.locator("#prize-accept")).to_be_hidden()
            await page.locator("#prize-later").click()
            await expect(page.locator("#prize-sheet")).to_be_hidden()
            held = next(o for o in await api.orders(host) if o["order_id"] == order["order_id"])
            assert held["status"] == "reserved" and held["address"] == CONTACT["address"]
        finally:
            await pub.stop()
    assert not [line for line in logs if "pageerror" in line], logs
