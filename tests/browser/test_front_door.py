"""What a newcomer meets first, in real headless Chromium on a real `serve --demo`: the
printed studio link signs the studio in (token kept, fragment gone) with a room that can
sell; the printed operator link shows the demo session on the dashboard once a publisher
goes live; the front door lists that live show, on a phone, in English, Chinese and
Japanese."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, Page, expect

from helpers.browser import chromium, collect_logs, no_sideways_scroll
from helpers.clients import publish, wait_for, watch
from helpers.demo import DemoServe, serve_demo
from helpers.servers import in_netns

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not in_netns(), reason="WebRTC: run inside scripts/netns-run"),
]

# The sampler feeds the dashboard every second; no recording (CPU).
ENV = {"STALLCAST_METRICS_INTERVAL_S": "1", "STALLCAST_RECORDING_ENABLED": "0"}
LIVE = 25_000  # ms: the dashboard refreshes every 3 s, the front door every 10 s
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
         "device_scale_factor": 2}
TITLE = "Fresh mangoes, live from the orchard"
WATCHING = {"en": "1 watching", "zh": "1 人在看", "ja": "1 人が視聴中"}
HEADINGS = {"en": "Live now", "zh": "正在直播", "ja": "ライブ配信中"}

HOST_API = """
async ([room]) => {
  const token = localStorage.getItem("stallcast.hostToken");
  const call = async (path, init = {}) => {
    const resp = await fetch(path, { ...init, headers: { Authorization: `Bearer ${token}`,
      "Content-Type": "application/json" } });
    return [resp.status, await resp.json()];
  };
  const [, rooms] = await call("/api/rooms");
  const [, products] = await call(`/api/rooms/${room}/products`);
  const state = await (await fetch(`/api/rooms/${room}/state`)).json();
  const pid = state.pinned && state.pinned.product_id;
  const [saleStatus, sale] = await call(`/api/rooms/${room}/sales`, { method: "POST",
    body: JSON.stringify({ product_id: pid, price: 7000, quantity: 3, duration: 60 }) });
  return { token, hash: location.hash, href: location.href, rooms: rooms.rooms,
           products: products.products, pinned: state.pinned, saleStatus, sale };
}
"""


async def _signed_in(browser: Browser, url: str, key: str, logs: list[str],
                     errors: list[str], name: str, **context: Any) -> Page:
    page = await (await browser.new_context(**context)).new_page()
    collect_logs(page, name, logs, errors)
    await page.goto(url)
    await page.wait_for_function("(key) => Boolean(localStorage.getItem(key))", arg=key)
    await page.wait_for_function("() => !location.href.includes('signin')")
    return page


async def _studio(browser: Browser, demo: DemoServe, logs: list[str],
                  errors: list[str], artifacts: Path) -> None:
    page = await _signed_in(browser, demo.links["studio"], "stallcast.hostToken", logs, errors,
                            "studio", **PHONE)
    seen = await page.evaluate(HOST_API, [demo.room_id])
    assert seen["token"] == demo.host_token
    assert "signin" not in seen["hash"] and demo.host_token not in seen["href"]
    assert [r["room_id"] for r in seen["rooms"]] == [demo.room_id]
    assert len(seen["products"]) == 4
    assert seen["pinned"]["image"].startswith("/static/demo/")
    assert seen["saleStatus"] == 201 and seen["sale"]["status"] == "live", seen["sale"]
    # Nothing of the token in the page's history either.
    assert demo.host_token not in await page.evaluate("() => history.state ? "
                                                      "JSON.stringify(history.state) : ''")
    await page.screenshot(path=str(artifacts / "front-demo-studio.png"))
    await page.context.close()


async def _front_door(browser: Browser, demo: DemoServe, lang: str, logs: list[str],
                      errors: list[str], artifacts: Path) -> None:
    context = await browser.new_context(**PHONE, locale={"en": "en-US", "zh": "zh-CN",
                                                         "ja": "ja-JP"}[lang])
    page = await context.new_page()
    collect_logs(page, f"front-{lang}", logs, errors)
    await page.goto(demo.links["front"])
    await expect(page.locator("#live-h")).to_have_text(HEADINGS[lang])
    show = page.locator("#live-list li", has_text=TITLE)
    await expect(show).to_be_visible(timeout=LIVE)
    await expect(show.locator(".show-meta")).to_have_text(WATCHING[lang], timeout=LIVE)
    assert await show.locator("a").get_attribute("href") == f"/watch/{demo.room_id}"
    thumb = show.locator("img")
    await expect(thumb).to_be_visible()
    assert (await thumb.get_attribute("src") or "").startswith("/static/demo/mangoes")
    # Thumbnails load lazily (phones on weak links): the picture must arrive, not at once.

    async def loaded() -> bool:
        return bool(await thumb.evaluate("(img) => img.complete && img.naturalWidth > 0"))

    loaded_in_time = False
    for _ in range(100):
        if await loaded():
            loaded_in_time = True
            break
        await page.wait_for_timeout(100)
    assert loaded_in_time, "the live show's thumbnail did not load within 10 s"
    for door, path in (("#door-studio", "/studio"), ("#door-classes", "/classes"),
                       ("#door-ops", "/ops")):
        assert await page.locator(door).get_attribute("href") == path
        box = await page.locator(door).bounding_box()
        assert box is not None and box["height"] >= 44  # a thumb can hit it
    await no_sideways_scroll(page)
    await page.screenshot(path=str(artifacts / f"front-door-{lang}.png"), full_page=True)
    if lang == "en":  # the switcher: the page follows without a reload
        await page.locator("#lang").select_option("ja")
        await expect(page.locator("#live-h")).to_have_text(HEADINGS["ja"])
        await expect(show.locator(".show-meta")).to_have_text(WATCHING["ja"])
        await page.set_viewport_size({"width": 844, "height": 390})  # on its side
        await no_sideways_scroll(page)
        await page.screenshot(path=str(artifacts / "front-door-landscape.png"))
    await context.close()


@pytest.mark.timeout(240)
async def test_the_demo_links_open_a_signed_in_product(tmp_path: Path, artifacts: Path) -> None:
    logs: list[str] = []
    errors: list[str] = []
    async with serve_demo(tmp_path / "data", env=ENV) as demo, chromium() as browser:
        try:
            await _studio(browser, demo, logs, errors, artifacts)
            ops = await _signed_in(browser, demo.links["ops"], "stallcast.ops.token", logs,
                                   errors, "ops", viewport={"width": 1280, "height": 800})
            await expect(ops.locator("#dash")).to_be_visible()
            await expect(ops.locator("#live-empty")).to_be_visible(timeout=LIVE)
            pub = await publish(demo.base, demo.room_id, demo.links["stream_key"])
            viewer = await watch(demo.base, demo.room_id)
            try:
                assert await wait_for(lambda: len(viewer.video_frames) > 3, 30)
                await expect(ops.locator("#live-body tr", has_text=TITLE)).to_be_visible(
                    timeout=LIVE)
                await ops.screenshot(path=str(artifacts / "front-demo-ops.png"))
                for lang in ("en", "zh", "ja"):
                    await _front_door(browser, demo, lang, logs, errors, artifacts)
                async with aiohttp.ClientSession() as http:
                    async with http.get(f"{demo.base}/api/shows") as resp:
                        shows = json.loads(await resp.text())
                assert [s["room_id"] for s in shows["live"]] == [demo.room_id]
            finally:
                await viewer.stop()
                await pub.stop()
            # Once the host ends, the front door no longer calls it live.
            front = await (await browser.new_context(**PHONE)).new_page()
            collect_logs(front, "front-after", logs, errors)
            await front.goto(demo.links["front"])
            await expect(front.locator("#live-empty")).to_be_visible(timeout=LIVE)
        finally:
            (artifacts / "front-door-console.log").write_text("\n".join(logs) + "\n")
    assert errors == [], errors
    for secret in (demo.host_token, demo.operator_token, demo.links["stream_key"]):
        assert secret not in demo.stderr  # never in the log
