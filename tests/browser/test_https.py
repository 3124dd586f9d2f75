"""`serve --demo --lan` for phones: HTTPS on the LAN address with a self-signed certificate
made once in the data folder, links printed with https:// and QR codes; in Chromium (told to
accept the certificate, as a phone's user does once) the studio link is a secure context
where the camera opens and a broadcast goes live over WHIP."""

from __future__ import annotations

import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

from helpers.browser import CHROMIUM, CHROMIUM_ARGS, collect_logs
from helpers.demo import serve_demo
from helpers.servers import NETNS_ADDRESS, in_netns
from server.platform import tls

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not in_netns(), reason="WebRTC: run inside scripts/netns-run"),
]

ENV = {"STALLCAST_RECORDING_ENABLED": "0"}

# Camera and microphone, then a WHIP broadcast to the room with its stream key, from the page.
GO_LIVE = """
async ([whip, key]) => {
  const stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
  const pc = new RTCPeerConnection();
  for (const track of stream.getTracks()) pc.addTransceiver(track, { direction: "sendonly" });
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((done) => {
    if (pc.iceGatheringState === "complete") return done();
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") done();
    });
  });
  const resp = await fetch(whip, { method: "POST", body: pc.localDescription.sdp,
    headers: { "Content-Type": "application/sdp", Authorization: `Bearer ${key}` } });
  if (resp.status !== 201) return { status: resp.status, text: await resp.text() };
  await pc.setRemoteDescription({ type: "answer", sdp: await resp.text() });
  window.testPc = pc;
  return { status: resp.status, tracks: stream.getTracks().map((t) => t.kind).sort() };
}
"""


@asynccontextmanager
async def trusting_chromium() -> AsyncIterator[Browser]:
    """Chromium that accepts the self-signed certificate."""
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                           args=[*CHROMIUM_ARGS, "--ignore-certificate-errors"])
        try:
            yield browser
        finally:
            await browser.close()


@pytest.mark.timeout(180)
async def test_lan_demo_serves_https_where_a_phone_can_go_live(tmp_path: Path,
                                                               artifacts: Path) -> None:
    data = tmp_path / "data"
    logs: list[str] = []
    errors: list[str] = []
    async with serve_demo(data, "--lan", "--host", NETNS_ADDRESS, env=ENV) as demo:
        base = f"https://{NETNS_ADDRESS}:{demo.port}"
        assert demo.base == base
        assert all(demo.links[k].startswith(base) for k in ("front", "studio", "viewer", "ops",
                                                            "whip"))
        printed = demo.stdout
        assert printed.count("Scan to") == 2 and "▀" in printed  # two terminal QR codes
        key_file = data / tls.KEY_NAME
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        cert = (data / tls.CERT_NAME).read_bytes()
        async with trusting_chromium() as browser:
            page = await (await browser.new_context(
                viewport={"width": 390, "height": 844}, is_mobile=True,
                has_touch=True)).new_page()
            collect_logs(page, "studio-https", logs, errors)
            await page.goto(demo.links["studio"])
            await page.wait_for_function(
                "() => localStorage.getItem('stallcast.hostToken') && "
                "!location.href.includes('signin')")
            assert await page.evaluate("() => window.isSecureContext") is True
            went = await page.evaluate(GO_LIVE, [demo.links["whip"], demo.links["stream_key"]])
            assert went == {"status": 201, "tracks": ["audio", "video"]}, went
            await page.wait_for_function(
                "async () => (await (await fetch('/api/shows', {cache: 'no-store'})).json())"
                ".live.length === 1", polling=500, timeout=30_000)
            await page.wait_for_function(
                "() => window.testPc.connectionState === 'connected'", timeout=30_000)
            await page.screenshot(path=str(artifacts / "https-lan-studio.png"))
        (artifacts / "https-console.log").write_text("\n".join(logs) + "\n")
    assert errors == [], errors
    assert demo.host_token not in demo.stderr and demo.operator_token not in demo.stderr
    # The next start takes the same certificate: a phone that accepted it is not asked again.
    async with serve_demo(data, "--lan", "--host", NETNS_ADDRESS, env=ENV,
                          port=demo.port) as again:
        assert again.base == base
    assert (data / tls.CERT_NAME).read_bytes() == cert
