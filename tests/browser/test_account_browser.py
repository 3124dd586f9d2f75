"""Orders follow the person, not the browser, in real headless Chromium: two phones (two
browser contexts, two anonymous viewers) each buy something on the watch page and sign in
with the same phone number from the orders sheet, reading the code the console SMS
provider logged. The second phone then shows both orders; the first shows both after a
reload; each says who is signed in (masked phone). A class recorded meanwhile (a real
publish, packaged) is bought with the account and confirmed by its teacher; a third phone
opens it, taps "restore my classes", signs in, and the class page plays it whole."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Page, expect
from test_class_browser import make_class

from helpers.browser import check_out, chromium, logged_page, no_sideways_scroll
from helpers.servers import Running
from helpers.shop import Api

pytestmark = [pytest.mark.browser]

PHONE: dict[str, Any] = {"viewport": {"width": 390, "height": 844}, "is_mobile": True,
                         "has_touch": True, "device_scale_factor": 2, "locale": "en-US"}
STEP = 15_000
NUMBER = "+86 139 0013 9021"


def logged_code(caplog: pytest.LogCaptureFixture) -> str:
    """The newest code the console provider logged (this test signs in one number)."""
    codes = [str(r.__dict__["code"]) for r in caplog.records
             if r.name == "stallcast.sms" and "code" in r.__dict__]
    assert codes, "the console SMS provider logged no code"
    return codes[-1]


async def open_orders(page: Page, count: int) -> None:
    button = page.locator("#orders-open")
    await expect(button).to_have_text(f"Your order{'s' if count > 1 else ''} ({count})",
                                      timeout=STEP)
    await button.tap()
    await expect(page.get_by_role("dialog", name="Your orders")).to_be_visible()
    await expect(page.locator("#orders li")).to_have_count(count, timeout=STEP)


async def sign_in(page: Page, caplog: pytest.LogCaptureFixture, artifacts: Path,
                  shot: str = "", button: str = "Sign in to see your orders on any phone"
                  ) -> None:
    """From the orders sheet (or ``button``'s page): the sign-in sheet, the phone, the code
    from the log."""
    await page.get_by_role("button", name=button).tap()
    sheet = page.get_by_role("dialog", name="Sign in with your phone")
    await expect(sheet).to_be_visible()
    await sheet.get_by_label("Phone number (with country code)").fill(NUMBER)
    await sheet.get_by_role("button", name="Text me a code").tap()
    await expect(sheet.get_by_role("status")).to_contain_text("Code sent to +86", timeout=STEP)
    await sheet.get_by_label("6-digit code").fill(logged_code(caplog))
    if shot:
        await no_sideways_scroll(page)
        await page.screenshot(path=str(artifacts / shot))
    async with page.expect_navigation(timeout=STEP):
        await sheet.get_by_role("button", name="Sign in", exact=True).tap()


@pytest.mark.timeout(180)
async def test_two_phones_one_account_see_both_orders(server: Running, artifacts: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="stallcast")
    _, host = await server.new_host("Hainan orchard")
    room = await server.new_room(host, title="Harvest live")
    rid = room["room_id"]
    logs: list[str] = []
    async with aiohttp.ClientSession() as http, chromium() as browser:
        api = Api(server.base, http)
        recording = asyncio.create_task(make_class(server, api, {}))  # while phones shop
        mango = await api.product(host, title="Mangoes 2 kg", price=3900, currency="CNY")
        lychee = await api.product(host, title="Lychee box", price=2500, currency="CNY")
        await api.ok("PUT", f"/api/rooms/{rid}/pin", host, {"product_id": mango["product_id"]})

        first = await logged_page(browser, "phone-1", logs, **PHONE)
        await first.goto(room["watch_url"])
        await expect(first.locator("#card-title")).to_have_text("Mangoes 2 kg", timeout=STEP)
        await check_out(first, "39.00", STEP)
        await open_orders(first, 1)
        await sign_in(first, caplog, artifacts, shot="account-signin-en.png")
        await open_orders(first, 1)
        await expect(first.locator(".account-line")).to_contain_text("Signed in:")
        await expect(first.locator(".account-phone")).to_have_text("+86•••••••9021")

        await api.ok("PUT", f"/api/rooms/{rid}/pin", host, {"product_id": lychee["product_id"]})
        second = await logged_page(browser, "phone-2", logs, **PHONE)
        await second.goto(room["watch_url"])
        await expect(second.locator("#card-title")).to_have_text("Lychee box", timeout=STEP)
        await check_out(second, "25.00", STEP)
        before = await second.evaluate(
            "() => JSON.parse(localStorage.getItem('stallcast.viewer')).viewer_id")
        await open_orders(second, 1)
        await sign_in(second, caplog, artifacts)
        # The second phone now holds the account's identity and shows both orders.
        await open_orders(second, 2)
        sheet = second.locator("#orders")
        await expect(sheet).to_contain_text("Mangoes 2 kg")
        await expect(sheet).to_contain_text("Lychee box")
        await expect(second.locator(".account-phone")).to_have_text("+86•••••••9021")
        await second.screenshot(path=str(artifacts / "account-orders-en.png"))
        after = await second.evaluate(
            "() => JSON.parse(localStorage.getItem('stallcast.viewer')).viewer_id")
        mine = await first.evaluate(
            "() => JSON.parse(localStorage.getItem('stallcast.viewer')).viewer_id")
        assert after == mine != before

        # The first phone, reloaded, shows the order made on the second one too.
        await first.reload()
        await open_orders(first, 2)
        await expect(first.locator("#orders")).to_contain_text("Lychee box")

        # The account buys the class; its teacher confirms the transfer.
        cid, teacher = await recording
        account = await first.evaluate(
            "() => JSON.parse(localStorage.getItem('stallcast.viewer')).token")
        await api.ok("POST", f"/api/classes/{cid}/buy", account, {
            "idempotency_key": "account-class-1",
            "contact": {"name": "Mei Lin", "phone": "+86 139 0013 9021"}})
        await api.confirm_class_order(teacher, cid)

        # A third phone in the class store is offered to restore its classes ...
        third = await logged_page(browser, "phone-3", logs, **PHONE)
        await third.goto(f"{server.base}/classes")
        restore = "Restore my classes: sign in with your phone"
        await expect(third.get_by_role("button", name=restore)).to_be_visible(timeout=STEP)
        await expect(third.locator(f"li[data-class-id='{cid}']")).to_be_visible(timeout=STEP)
        await no_sideways_scroll(third)
        await third.screenshot(path=str(artifacts / "account-classes-en.png"))
        # ... and on the class's page, anonymous, it gets the preview only ...
        await third.goto(f"{server.base}/classes/{cid}")
        await third.wait_for_function("() => window.stallcast.play", timeout=STEP)
        assert not await third.evaluate("() => window.stallcast.play.entitled")
        await expect(third.locator("#preview-note")).to_be_visible()
        # ... until it signs in there: then the class is its own and plays whole.
        await sign_in(third, caplog, artifacts, button=restore)
        await third.wait_for_function(
            "() => window.stallcast.play && window.stallcast.play.entitled", timeout=STEP)
        play: dict[str, Any] = await third.evaluate("() => window.stallcast.play")
        assert "scope=full" in play["playlist"], play
        await expect(third.locator("#preview-note")).to_be_hidden()
        await expect(third.locator(".account-phone")).to_have_text("+86•••••••9021")
        await third.wait_for_function(
            "() => !window.stallcast.video.paused && window.stallcast.video.currentTime > 0.5",
            timeout=STEP)
        assert await third.evaluate(
            "() => JSON.parse(localStorage.getItem('stallcast.viewer')).token") == account
    (artifacts / "account-console.log").write_text("\n".join(logs) + "\n")
    assert not [line for line in logs if "pageerror" in line], logs
