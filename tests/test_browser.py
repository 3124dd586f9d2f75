"""Real headless Chromium end to end: the studio page publishes its fake camera over WHIP,
the watch page (another browser context) plays it over WHEP and follows the host's events."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import Running
from playwright.async_api import ConsoleMessage, Page, async_playwright, expect

CHROMIUM = os.environ.get("STALLCAST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM}"),
]

# framesDecoded of the viewer's inbound video stream, or null before there is one.
FRAMES_DECODED = """
async () => {
  const pc = window.stallcast && window.stallcast.pc;
  if (!pc) return null;
  const stats = await pc.getStats();
  for (const s of stats.values()) {
    if (s.type === "inbound-rtp" && s.kind === "video") return s.framesDecoded ?? 0;
  }
  return null;
}
"""

FIRST_FRAME_TIMEOUT = 10.0
MEASURE_SECONDS = 3.0
MIN_FPS = 10.0


def collect_logs(page: Page, name: str, logs: list[str]) -> None:
    def on_console(msg: ConsoleMessage) -> None:
        logs.append(f"[{name} console.{msg.type}] {msg.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: logs.append(f"[{name} pageerror] {exc}"))


async def frames_decoded(page: Page) -> int | None:
    value: Any = await page.evaluate(FRAMES_DECODED)
    return None if value is None else int(value)


@pytest.mark.timeout(120)
async def test_studio_to_viewer_in_chromium(server: Running, artifacts: Path,
                                            caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="aiohttp.access")
    _, token = await server.new_host()
    room = await server.new_room(token, title="Alphonso mangoes")
    room_id, key = room["room_id"], room["stream_key"]
    logs: list[str] = []
    timings: dict[str, Any] = {}
    t_start = time.monotonic()

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                           args=CHROMIUM_ARGS)
        try:
            # The host, on a phone-sized screen.
            host_ctx = await browser.new_context(viewport={"width": 375, "height": 740},
                                                 permissions=["camera", "microphone"])
            studio = await host_ctx.new_page()
            collect_logs(studio, "studio", logs)
            await studio.goto(f"{server.base}/studio/{room_id}#key={key}")
            await expect(studio.get_by_label("Stream key")).to_be_hidden()
            await studio.get_by_role("button", name="Go live").click()
            await expect(studio.locator("#status")).to_have_text("live", timeout=20_000)
            timings["host_live_s"] = round(time.monotonic() - t_start, 2)
            router = server.ctx.sfu.routers[room_id]
            assert router.live

            # A viewer in a separate browser context.
            viewer_ctx = await browser.new_context(viewport={"width": 800, "height": 600})
            deletes: list[str] = []
            viewer_ctx.on("request", lambda r: deletes.append(r.url)
                          if r.method == "DELETE" else None)
            watch = await viewer_ctx.new_page()
            collect_logs(watch, "watch", logs)
            t_open = time.monotonic()
            await watch.goto(room["watch_url"])
            await expect(watch.locator("#title")).to_have_text("Alphonso mangoes")

            # The first frame within ~10 s ...
            first = None
            while time.monotonic() - t_open < FIRST_FRAME_TIMEOUT:
                first = await frames_decoded(watch)
                if first:
                    break
                await asyncio.sleep(0.25)
            assert first, f"no video frame decoded within {FIRST_FRAME_TIMEOUT}s\n" + \
                "\n".join(logs)
            timings["first_frame_s"] = round(time.monotonic() - t_open, 2)

            # ... then frames keep coming at a steady rate.
            samples: list[tuple[float, int]] = [(time.monotonic(), first)]
            while samples[-1][0] - samples[0][0] < MEASURE_SECONDS:
                await asyncio.sleep(0.5)
                count = await frames_decoded(watch)
                assert count is not None
                samples.append((time.monotonic(), count))
            (t0, f0), (t1, f1) = samples[0], samples[-1]
            fps = (f1 - f0) / (t1 - t0)
            timings["viewer_fps"] = round(fps, 1)
            stalls = [b[1] - a[1] for a, b in zip(samples, samples[1:], strict=False)
                      if b[1] <= a[1]]
            assert fps >= MIN_FPS, f"viewer decoded {fps:.1f} frames/s: {samples}"
            assert not stalls, f"video stalled between samples: {samples}"

            await expect(watch.locator("#status")).to_have_text("live", timeout=5_000)
            playing = await watch.evaluate(
                "() => { const v = document.getElementById('video');"
                " return {paused: v.paused, muted: v.muted, width: v.videoWidth,"
                " height: v.videoHeight}; }")
            assert not playing["paused"] and playing["muted"], playing
            assert playing["width"] > 0 and playing["height"] > 0, playing
            timings["viewer_size"] = f"{playing['width']}x{playing['height']}"
            await watch.screenshot(path=str(artifacts / "viewer.png"))
            events = await watch.evaluate("() => window.stallcast.events")
            assert events and events[0]["type"] == "welcome", events
            assert events[0]["live"] is True and events[0]["room_id"] == room_id, events
            await expect(watch.get_by_role("button", name="Tap to unmute")).to_be_visible()

            # The host ends the show; the viewer hears about it on the data channel.
            t_end = time.monotonic()
            await studio.get_by_role("button", name="End").click()
            await expect(studio.locator("#status")).to_have_text("ended", timeout=10_000)
            await expect(watch.locator("#status")).to_have_text("the host has left",
                                                                timeout=10_000)
            timings["host_left_seen_s"] = round(time.monotonic() - t_end, 2)
            events = await watch.evaluate("() => window.stallcast.events")
            assert events[-1]["type"] == "host_left", events
            assert not router.live

            # Leaving the page ends the viewer's session on the server (pagehide DELETE).
            await watch.goto("about:blank")
            deadline = time.monotonic() + 10
            while router.viewers and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            assert not router.viewers, "viewer session still open after leaving the page"
            access = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
            assert any(f"DELETE /whep/{room_id}/" in line for line in access), (deletes, access)
        finally:
            await browser.close()

    timings["total_s"] = round(time.monotonic() - t_start, 2)
    (artifacts / "browser-timings.json").write_text(json.dumps(timings, indent=2) + "\n")
