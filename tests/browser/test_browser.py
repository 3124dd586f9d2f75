"""Real headless Chromium end to end: the studio page publishes its fake camera over WHIP,
the watch page (another browser context) plays it over WHEP and follows the host's events."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import Any

import msgpack
import pytest
from playwright.async_api import Page, expect

from helpers.browser import chromium, collect_logs
from helpers.servers import Running

pytestmark = [
    pytest.mark.browser,
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

# What the studio's encoder is doing (for the timings artifact, not asserted).
PUBLISHER_STATS = """
async () => {
  const stats = await window.stallcast.pc.getStats();
  for (const s of stats.values()) {
    if (s.type === "outbound-rtp" && s.kind === "video") {
      const codec = stats.get(s.codecId);
      return { size: `${s.frameWidth}x${s.frameHeight}`, fps: s.framesPerSecond,
               limited_by: s.qualityLimitationReason, codec: codec && codec.mimeType,
               target_bitrate: s.targetBitrate };
    }
  }
  return null;
}
"""

FIRST_FRAME_TIMEOUT = 10.0
MEASURE_SECONDS = 3.0
MIN_FPS = 10.0


async def frames_decoded(page: Page) -> int | None:
    value: Any = await page.evaluate(FRAMES_DECODED)
    return None if value is None else int(value)


@pytest.mark.timeout(120)
async def test_studio_to_viewer_in_chromium(server: Running, artifacts: Path,
                                            caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="aiohttp.access")
    _, token = await server.new_host()
    room = await server.new_room(token, title="Alphonso mangoes")
    logs: list[str] = []
    timings: dict[str, Any] = {}
    t_start = time.monotonic()
    try:
        await run_story(server, room, logs, timings, caplog, artifacts)
    finally:
        # The pages' console output, for whoever debugs a failure.
        (artifacts / "browser-console.log").write_text("\n".join(logs) + "\n")
    timings["total_s"] = round(time.monotonic() - t_start, 2)
    (artifacts / "browser-timings.json").write_text(json.dumps(timings, indent=2) + "\n")


async def event_log(page: Page) -> list[dict[str, Any]]:
    """The events the page decoded from its data channel, oldest first."""
    events: list[dict[str, Any]] = await page.evaluate("() => window.stallcast.events")
    return events


async def first_frame(page: Page, timeout: float = FIRST_FRAME_TIMEOUT) -> int:
    """Wait for the viewer page's first decoded video frame; returns framesDecoded."""
    deadline = time.monotonic() + timeout
    while True:
        count = await frames_decoded(page)
        if count:
            return count
        assert time.monotonic() < deadline, f"no video frame decoded within {timeout}s"
        await asyncio.sleep(0.25)


async def measure_fps(page: Page, seconds: float = MEASURE_SECONDS) -> float:
    """framesDecoded per second over ``seconds``, failing if any second adds none."""
    samples: list[tuple[float, int]] = []
    while not samples or samples[-1][0] - samples[0][0] < seconds:
        if samples:
            await asyncio.sleep(0.5)
        count = await frames_decoded(page)
        assert count is not None
        samples.append((time.monotonic(), count))
    (t0, f0), (t1, f1) = samples[0], samples[-1]
    stalled = any(b[1] <= a[1] for a, b in zip(samples, samples[2:], strict=False))
    assert not stalled, f"video stalled between samples: {samples}"
    return (f1 - f0) / (t1 - t0)


async def run_story(server: Running, room: dict[str, str], logs: list[str],
                    timings: dict[str, Any], caplog: pytest.LogCaptureFixture,
                    artifacts: Path) -> None:
    room_id, key = room["room_id"], room["stream_key"]
    async with chromium() as browser:
        # The host, on a phone-sized screen.
        host_ctx = await browser.new_context(viewport={"width": 375, "height": 740},
                                             permissions=["camera", "microphone"])
        studio = await host_ctx.new_page()
        collect_logs(studio, "studio", logs)
        await studio.goto(f"{server.base}/studio/{room_id}#key={key}")
        await expect(studio.get_by_label("Stream key")).to_be_hidden()
        await expect(studio.locator("#status")).to_have_text("offline")
        t_golive = time.monotonic()
        await studio.get_by_role("button", name="Go live").click()
        await expect(studio.locator("#status")).to_have_text("live", timeout=20_000)
        timings["host_live_s"] = round(time.monotonic() - t_golive, 2)
        overflow = await studio.evaluate(
            "() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"studio page scrolls sideways on a 375px screen by {overflow}px"
        await studio.screenshot(path=str(artifacts / "studio.png"))
        router = server.ctx.sfu.routers[room_id]
        assert router.live

        # A viewer in a separate browser context.
        viewer_ctx = await browser.new_context(viewport={"width": 800, "height": 600})
        watch = await viewer_ctx.new_page()
        collect_logs(watch, "watch", logs)
        t_open = time.monotonic()
        await watch.goto(room["watch_url"])
        await expect(watch.locator("#title")).to_have_text("Alphonso mangoes")

        # The first frame within ~10 s, then frames keep coming at a steady rate.
        await first_frame(watch)
        timings["first_frame_s"] = round(time.monotonic() - t_open, 2)
        fps = await measure_fps(watch)
        timings["viewer_fps"] = round(fps, 1)
        assert fps >= MIN_FPS, f"viewer decoded {fps:.1f} frames/s"

        await expect(watch.locator("#status")).to_have_text("live", timeout=5_000)
        playing = await watch.evaluate(
            "() => { const v = document.getElementById('video');"
            " return {paused: v.paused, muted: v.muted, width: v.videoWidth,"
            " height: v.videoHeight}; }")
        assert not playing["paused"] and playing["muted"], playing
        assert playing["width"] > 0 and playing["height"] > 0, playing
        timings["viewer_size"] = f"{playing['width']}x{playing['height']}"
        await watch.screenshot(path=str(artifacts / "viewer.png"))
        timings["publisher"] = await studio.evaluate(PUBLISHER_STATS)
        events = await event_log(watch)
        welcome = next((e for e in events if e.get("type") == "welcome"), None)
        assert welcome is not None, events
        assert welcome["live"] is True and welcome["room_id"] == room_id, events
        seen = len(events)
        await expect(watch.get_by_role("button", name="Tap to unmute")).to_be_visible()

        # The host ends the show; the viewer hears about it on the data channel.
        t_end = time.monotonic()
        await studio.get_by_role("button", name="End").click()
        await studio.get_by_role("button", name="End now").click()
        await expect(studio.locator("#status")).to_have_text("ended", timeout=10_000)
        await expect(watch.locator("#status")).to_have_text("the show has ended",
                                                            timeout=10_000)
        timings["host_left_seen_s"] = round(time.monotonic() - t_end, 2)
        events = await event_log(watch)
        assert "host_left" in [e.get("type") for e in events[seen:]], events
        seen = len(events)
        assert not router.live

        # The host comes back: the same viewer session is told and plays again.
        before = await frames_decoded(watch) or 0
        await studio.get_by_role("button", name="Go live").click()
        await expect(studio.locator("#status")).to_have_text("live", timeout=20_000)
        await expect(watch.locator("#status")).to_have_text("live", timeout=10_000)
        deadline = time.monotonic() + FIRST_FRAME_TIMEOUT
        while (await frames_decoded(watch) or 0) < before + 20:
            assert time.monotonic() < deadline, "no frames after the host came back"
            await asyncio.sleep(0.25)
        events = await event_log(watch)
        assert "host_live" in [e.get("type") for e in events[seen:]], events
        await studio.get_by_role("button", name="End").click()
        await studio.get_by_role("button", name="End now").click()
        await expect(watch.locator("#status")).to_have_text("the show has ended",
                                                            timeout=10_000)

        # Leaving the page ends the viewer's session on the server with a keepalive DELETE
        # from pagehide (Playwright does not report that request, so read the access log).
        await watch.goto("about:blank")
        deadline = time.monotonic() + 10
        while router.viewers and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        assert not router.viewers, "viewer session still open after leaving the page"
        # The closing peer connection may beat the DELETE to the server: wait for it too.

        def deleted() -> bool:
            return any(f"DELETE /whep/{room_id}/" in r.getMessage() for r in caplog.records
                       if r.name == "aiohttp.access")

        while not deleted() and time.monotonic() < deadline + 5:
            await asyncio.sleep(0.2)
        assert deleted(), [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]

        # A viewer who arrives between two shows is told the last one ended (the snapshot's
        # show state), then plays when the host goes live again.
        early = await viewer_ctx.new_page()
        collect_logs(early, "early", logs)
        await early.goto(room["watch_url"])
        await expect(early.locator("#status")).to_have_text("the show has ended")
        await early.wait_for_function("() => window.stallcast.events.length > 0",
                                      timeout=10_000)
        events = await event_log(early)
        assert events[0]["type"] == "welcome" and events[0]["live"] is False, events
        assert events[0]["snapshot"]["show"]["state"] == "ended", events[0]
        await expect(early.locator("#status")).to_have_text("the show has ended")
        await studio.get_by_role("button", name="Go live").click()
        await expect(early.locator("#status")).to_have_text("live", timeout=20_000)
        await first_frame(early)
        await studio.get_by_role("button", name="End").click()
        await studio.get_by_role("button", name="End now").click()
        await expect(early.locator("#status")).to_have_text("the show has ended",
                                                            timeout=10_000)


async def test_msgpack_decoder_matches_python(server: Running) -> None:
    """web_client/shared/wire.js (the vendored @msgpack/msgpack) decodes what Python's msgpack
    (the server's encoder) produces. A map with a "__proto__" key cannot set the prototype:
    the library refuses the whole message (the hand-written decoder kept it as a plain key)."""
    value = {
        "type": "welcome", "room_id": "r_" + "x" * 40, "live": True, "ts": 1765432109.123456,
        "none": None, "no": False, "small": 7, "neg": -3, "neg8": -100, "neg16": -30000,
        "neg32": -2_000_000_000, "neg64": -(2**40), "u8": 200, "u16": 60000,
        "u32": 4_000_000_000, "u64": 2**53 - 1, "float": -0.5, "unicode": "mangő 🥭",
        "long": "y" * 300, "list": [1, "two", [3.5, None], {"k": "v"}],
        "big_list": list(range(20)), "big_map": {f"k{i}": i for i in range(20)},
    }
    packed = list(msgpack.packb(value))
    proto = list(msgpack.packb({"type": "chat", "__proto__": {"polluted": True}}))
    async with chromium() as browser:
        page = await browser.new_page()
        await page.goto(f"{server.base}/")
        decoded = await page.evaluate(
            """async ([bytes, protoBytes]) => {
                const { decode } = await import("/static/shared/wire.js");
                const out = decode(new Uint8Array(bytes));
                let truncated = "";
                try { decode(new Uint8Array(bytes.slice(0, -1))); }
                catch (err) { truncated = err.name; }
                const plain = Object.getPrototypeOf(out) === Object.prototype;
                let proto = "";
                try { decode(new Uint8Array(protoBytes)); }
                catch (err) { proto = err.name; }
                return { out, truncated, plain, proto, polluted: ({}).polluted === true };
            }""",
            [packed, proto],
        )
    assert decoded["out"] == value
    assert decoded["plain"] is True
    assert decoded["truncated"] == "RangeError"
    assert decoded["proto"] == "DecodeError" and decoded["polluted"] is False


async def test_studio_asks_for_the_key_and_reports_http_errors(server: Running) -> None:
    _, token = await server.new_host()
    room = await server.new_room(token)
    async with chromium() as browser:
        context = await browser.new_context(viewport={"width": 375, "height": 740},
                                            permissions=["camera", "microphone"])
        studio = await context.new_page()
        await studio.goto(room["studio_url"])  # no #key= fragment
        await expect(studio.locator("#status")).to_have_text("offline")
        key_input = studio.get_by_label("Stream key")
        await expect(key_input).to_be_visible()
        await key_input.fill("sk_wrong")
        await studio.get_by_role("button", name="Go live").click()
        await expect(studio.locator("#status")).to_have_text("error: wrong stream key",
                                                             timeout=15_000)
        await expect(studio.get_by_role("button", name="Go live")).to_be_enabled()
        # Nothing to end: the End button is not offered.
        await expect(studio.get_by_role("button", name="End")).to_be_hidden()
        assert room["room_id"] not in server.ctx.sfu.routers
