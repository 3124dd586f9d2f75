"""The studio's product chips follow the room's stock as buyers take it: a direct buy (no
flash sale) moves the chip's count through the room's product_stock event, a variant's buy
the parent's total, with no catalogue fetch and no reload."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from playwright.async_api import expect

from helpers.browser import chromium, collect_logs
from helpers.servers import Running
from helpers.shop import Api, contact_for

pytestmark = [pytest.mark.browser]

SLOW = 30_000
PHONE: dict[str, Any] = {"viewport": {"width": 390, "height": 844}, "is_mobile": True,
                         "has_touch": True, "locale": "en-US"}


@pytest.mark.timeout(120)
async def test_chips_follow_direct_buys_of_products_and_variants(server: Running) -> None:
    _, token = await server.new_host("Tea garden")
    room_id = (await server.new_room(token, "Spring tea"))["room_id"]
    logs: list[str] = []
    async with aiohttp.ClientSession() as http, chromium() as browser:
        api = Api(server.base, http)
        plain = await api.product(token, title="Oolong 100 g", stock=30, per_buyer_limit=9)
        boxed = await api.product(token, title="Green tea", variants=[
            {"label": "50 g", "price": 1800, "stock": 10},
            {"label": "200 g", "price": 6000, "stock": 5}])
        for made in (plain, boxed):
            await api.ok("POST", f"/api/rooms/{room_id}/products", token,
                         {"product_id": made["product_id"]})
        page = await (await browser.new_context(**PHONE)).new_page()
        collect_logs(page, "studio", logs)
        await page.goto(f"{server.base}/studio/{room_id}#signin={token}")
        await page.wait_for_function("() => document.body.dataset.ready === '1'", timeout=SLOW)
        chip = page.locator(f'#chips li[data-product-id="{plain["product_id"]}"] .chip-main')
        boxes = page.locator(f'#chips li[data-product-id="{boxed["product_id"]}"] .chip-main')
        await expect(chip).to_contain_text("30 left", timeout=SLOW)
        await expect(boxes).to_contain_text("15 left", timeout=SLOW)
        # The studio's events channel is open: what happens next reaches it as events.
        await page.wait_for_function("() => window.stallcast.feed.channelOpen", timeout=SLOW)

        vid, buyer = await api.viewer()
        await api.ok("POST", f"/api/rooms/{room_id}/buy", buyer, {
            "product_id": plain["product_id"], "quantity": 3, "idempotency_key": "chip-buy-1",
            "contact": contact_for(vid)})
        await expect(chip).to_contain_text("27 left", timeout=SLOW)
        small = boxed["variants"][0]["product_id"]
        await api.ok("POST", f"/api/rooms/{room_id}/buy", buyer, {
            "product_id": small, "quantity": 4, "idempotency_key": "chip-buy-2"})
        await expect(boxes).to_contain_text("11 left", timeout=SLOW)
    assert not [line for line in logs if "pageerror" in line], logs
