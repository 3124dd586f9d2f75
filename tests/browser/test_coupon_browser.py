"""Coupons in real headless Chromium: the host pushes a coupon from the studio's form, a
viewer on a phone sees its chip on the card area, claims it, and buys with it: the checkout
shows the discount and the total without it, and the order the server made records them;
the studio's orders list shows the order's ship-by time and highlights it once past."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import pytest
from playwright.async_api import expect

from helpers.browser import chromium, logged_page
from helpers.servers import Running
from helpers.shop import CONTACT, Api

pytestmark = [pytest.mark.browser]

SLOW = 30_000
PHONE: dict[str, Any] = {"viewport": {"width": 390, "height": 844}, "is_mobile": True,
                         "has_touch": True, "locale": "en-US"}
DESK: dict[str, Any] = {"viewport": {"width": 1280, "height": 900}, "locale": "en-US"}


@pytest.mark.timeout(150)
async def test_a_viewer_claims_a_pushed_coupon_and_buys_with_it(server: Running) -> None:
    _, token = await server.new_host("Lychee orchard")
    room_id = (await server.new_room(token, "Lychees live"))["room_id"]
    logs: list[str] = []
    async with aiohttp.ClientSession() as http, chromium() as browser:
        api = Api(server.base, http)
        product = await api.product(token, title="Lychees 1 kg", price=3900, stock=50,
                                    shipping_fee=500, ship_by_hours=72)
        await api.ok("POST", f"/api/rooms/{room_id}/products", token,
                     {"product_id": product["product_id"]})
        await api.ok("PUT", f"/api/rooms/{room_id}/pin", token,
                     {"product_id": product["product_id"]})

        viewer = await logged_page(browser, "viewer", logs, **PHONE)
        await viewer.goto(f"{server.base}/watch/{room_id}")
        await expect(viewer.locator("#card-title")).to_have_text("Lychees 1 kg", timeout=SLOW)
        await viewer.wait_for_function(
            "() => window.stallcast.events.some((e) => e.type === 'welcome')", timeout=SLOW)

        # The host pushes ¥10 off orders over ¥50, for 2 hours, from the studio.
        studio = await logged_page(browser, "studio", logs, **DESK)
        await studio.goto(f"{server.base}/studio/{room_id}#signin={token}")
        await studio.wait_for_function("() => document.body.dataset.ready === '1'",
                                       timeout=SLOW)
        if await studio.locator("#manage-open").is_visible():
            await studio.locator("#manage-open").click()
        await studio.locator("#tab-sales").click()
        await studio.get_by_label("Coupon type").select_option("amount")
        await studio.get_by_label("Off (amount or %)").fill("10")
        await studio.get_by_label("Coupon currency").select_option("CNY")
        await studio.get_by_label("Minimum order").fill("50")
        await studio.get_by_label("How many can claim").fill("20")
        await studio.get_by_label("Valid", exact=True).select_option("hours")
        await studio.get_by_label("Hours", exact=True).fill("2")
        await studio.get_by_role("button", name="Push coupon").click()
        pushed = studio.locator("#coupons li")
        await expect(pushed).to_contain_text("0 of 20 claimed", timeout=SLOW)

        # The chip reaches the phone live (coupon_pushed) and is claimed with one tap.
        chip = viewer.locator(".coupon-chip")
        await expect(chip).to_contain_text("orders over", timeout=SLOW)
        await expect(chip).to_contain_text("20 left")
        await chip.get_by_role("button", name="Claim").click()
        await expect(chip).to_contain_text("Claimed", timeout=SLOW)
        await expect(pushed).to_contain_text("1 of 20 claimed", timeout=SLOW)

        # Checkout: one box is under the minimum (no discount), two get ¥10 off.
        await viewer.get_by_role("button", name="Buy", exact=True).click()
        dialog = viewer.get_by_role("dialog", name="Checkout")
        await expect(dialog).to_be_visible()
        discount = dialog.locator("#checkout-discount")
        await expect(discount).to_be_hidden()
        await dialog.get_by_role("button", name="One more").click()
        await expect(discount).to_be_visible()
        await expect(discount).to_contain_text("10.00")
        await expect(dialog.locator("#checkout-total")).to_contain_text("73.00")  # 78 + 5 - 10
        await dialog.get_by_label("Name").fill(CONTACT["name"])
        await dialog.get_by_label("Phone").fill(CONTACT["phone"])
        await dialog.get_by_label("Address").fill(CONTACT["address"])
        await dialog.get_by_role("button", name="Place order").click()
        await expect(viewer.locator("#shop-status")).to_contain_text("Confirmed", timeout=SLOW)
        await expect(chip).to_contain_text("Used", timeout=SLOW)

        (order,) = await api.orders(token)
        assert order["coupon_id"] and order["discount"] == 1000, order
        assert order["total"] == 2 * 3900 + 500 - 1000
        assert order["ship_by"] == pytest.approx(order["created_at"] + 72 * 3600, abs=1)
        await expect(pushed).to_contain_text("1 used", timeout=SLOW)

        # The delivery promise: the order shows its ship-by time, and once past it unshipped
        # (the clock moved 73 hours on) the studio's orders list highlights and counts it.
        await studio.locator("#tab-orders").click()
        item = studio.locator(f'#orders li[data-order-id="{order["order_id"]}"]')
        await expect(item.locator(".ship-by")).to_contain_text("Ship by", timeout=SLOW)
        past = order["ship_by"] - 73 * 3600
        await server.ctx.redis.hset(f"order:{order['order_id']}", "ship_by", repr(past))
        await expect(item).to_have_class(re.compile(r"\boverdue\b"), timeout=SLOW)
        await expect(item.locator(".ship-by")).to_contain_text("Overdue")
        await expect(studio.locator("#orders-overdue")).to_have_text("1 overdue")
    assert not [line for line in logs if "pageerror" in line], logs
