"""Follow, schedule, go live, reminded once: in real headless Chromium a viewer follows a
host from its scheduled show's page and keeps the front page open; the host goes live
over WHIP from a real aiortc publisher; the open page shows the reminder banner exactly
once, however many polls follow, and its link opens the live watch page, which counts the
viewer as come from the reminder (the host's studio shows it). A show page opened from
its channel's page and left open meanwhile turns into the live room."""

from __future__ import annotations

import time
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import expect

from helpers.browser import chromium, collect_logs, more_frames, no_sideways_scroll
from helpers.clients import publish
from helpers.servers import Running, in_netns
from helpers.shop import Api

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not in_netns(), reason="WebRTC: run inside scripts/netns-run"),
]

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
         "device_scale_factor": 2}
POLLED = 35_000  # ms: the banner polls every 15 s


@pytest.mark.timeout(150)
async def test_follower_sees_one_reminder_and_reaches_the_live_room(
        server: Running, artifacts: Path) -> None:
    logs: list[str] = []
    errors: list[str] = []
    _, host = await server.new_host("Lychee grove")
    room = await server.new_room(host, "Lychees")
    async with aiohttp.ClientSession() as http, chromium() as browser:
        api = Api(server.base, http)
        operator = await server.new_operator()
        await api.ok("POST", "/api/channels", operator, {"slug": "fruit", "name": "Fruit"})
        show = await api.ok("POST", "/api/shows", host, {
            "room_id": room["room_id"], "title": "Lychee harvest, live",
            "starts_at": time.time() + 600, "repeat": "weekly", "category": "fruit"})
        page = await (await browser.new_context(**PHONE, locale="en-US")).new_page()
        collect_logs(page, "viewer", logs, errors)
        pub = None
        try:
            await page.goto(f"{server.base}/shows/{show['show_id']}")
            await expect(page.locator("#title")).to_have_text("Lychee harvest, live")
            await expect(page.locator("#countdown")).to_contain_text("Starts in")
            ics = await page.locator("#calendar").get_attribute("href")
            assert ics == f"/api/shows/{show['show_id']}/calendar.ics"
            await page.locator("#follow").click()
            await expect(page.locator("#follow")).to_have_attribute("aria-pressed", "true")
            await expect(page.locator("#follow")).to_have_text("Following Lychee grove")
            await no_sideways_scroll(page)
            await page.screenshot(path=str(artifacts / "show-page.png"))

            await page.goto(f"{server.base}/")
            await page.wait_for_function(
                "() => window.stallcastReminders && window.stallcastReminders.state.polls > 0")
            assert await page.locator(".sc-reminder").count() == 0
            chip = page.locator("#channel-list a", has_text="Fruit")
            await expect(chip).to_have_attribute("href", "/channels/fruit")
            # Someone else keeps the show's page open: it becomes the live room.
            waiting = await (await browser.new_context(**PHONE)).new_page()
            collect_logs(waiting, "waiting", logs, errors)
            await waiting.goto(f"{server.base}/channels/fruit")  # the channel lists it
            await expect(waiting.locator("#channel-name")).to_have_text("Fruit")
            await waiting.locator("#upcoming-list a", has_text="Lychee harvest").click()
            await waiting.wait_for_url(f"**/shows/{show['show_id']}")
            await expect(waiting.locator("#countdown")).to_contain_text("Starts in")
            pub = await publish(server.base, room["room_id"], room["stream_key"])
            banner = page.locator(".sc-reminder")
            await expect(banner).to_be_visible(timeout=POLLED)
            await expect(banner).to_contain_text("Lychee grove is live now: Lychee harvest")
            polls = await page.evaluate("() => window.stallcastReminders.state.polls")
            for _ in range(3):  # more polls, and the tab coming back: still one banner
                await page.evaluate("() => window.stallcastReminders.poll()")
            await page.evaluate("() => document.dispatchEvent(new Event('visibilitychange'))")
            await page.wait_for_function(
                "(n) => window.stallcastReminders.state.polls >= n + 3", arg=polls)
            assert await banner.count() == 1
            await no_sideways_scroll(page)
            await page.screenshot(path=str(artifacts / "reminder-banner.png"))

            await waiting.wait_for_url(f"**/watch/{room['room_id']}", timeout=POLLED)
            await waiting.context.close()
            await banner.locator("a").click()
            await page.wait_for_url(f"**/watch/{room['room_id']}?from=reminder&show=*")
            await more_frames(page, 10, 30, "the reminder's link did not open the live room")
            # The watch page's follow button knows this viewer follows the host.
            await expect(page.locator("#follow-box #follow")).to_have_attribute(
                "aria-pressed", "true")
            await expect(page.locator("#follow-box #follow")).to_have_attribute(
                "aria-label", "Following Lychee grove; tap to unfollow")
            await no_sideways_scroll(page)
            await page.screenshot(path=str(artifacts / "reminder-watch.png"))
            async with http.get(f"{server.base}/api/host/audience",
                                headers={"Authorization": f"Bearer {host}"}) as resp:
                studio = await resp.json()
            assert studio["followers"] == 1
            assert studio["shows"][0]["reminded"] == 1
            assert studio["shows"][0]["from_reminders"] == 1
            # The host's studio says so too: one follower, one came from the reminder.
            studio_page = await (await browser.new_context(**PHONE)).new_page()
            collect_logs(studio_page, "studio", logs, errors)
            await studio_page.goto(f"{server.base}/studio/{room['room_id']}#signin={host}")
            await studio_page.wait_for_function("""(show) => {
                const f = document.getElementById("studio-followers");
                const row = document.querySelector(`[data-show="${show}"] [data-from]`);
                return f && f.dataset.count === "1" && row && row.dataset.from === "1";
            }""", arg=show["show_id"])
            await studio_page.context.close()
            # Back on the front page: the reminder was shown, no page shows it again.
            await page.goto(f"{server.base}/")
            await page.wait_for_function(
                "() => window.stallcastReminders && window.stallcastReminders.state.polls > 0")
            assert await page.locator(".sc-reminder").count() == 0
            assert errors == [], errors
        finally:
            if pub is not None:
                await pub.stop()
            (artifacts / "reminders-console.log").write_text("\n".join(logs) + "\n")
