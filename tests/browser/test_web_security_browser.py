"""The pages run under the security policy in Chromium and cannot be framed (the headers
themselves: cluster/test_web_security.py)."""

from __future__ import annotations

import pytest
from aiohttp import web

from helpers.browser import chromium
from helpers.servers import Running, free_port

VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) =>
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));
"""
STYLED = """
() => {
  const links = document.querySelectorAll('link[rel="stylesheet"]').length;
  const sheets = [...document.styleSheets];
  return links > 0 && sheets.length === links && sheets.every((s) => s.cssRules.length > 0);
}
"""


@pytest.mark.browser
async def test_pages_run_under_the_policy_and_cannot_be_framed(server: Running) -> None:
    """Each page in Chromium: its scripts ran (the language picker is filled from the
    catalogues), its style sheets applied, and not one CSP violation was reported; a page
    on another origin that frames the watch page gets nothing."""
    _, host = await server.new_host()
    room = await server.new_room(host)
    rid = room["room_id"]
    framing = web.Application()

    async def evil(request: web.Request) -> web.Response:
        return web.Response(content_type="text/html",
                            text=f'<iframe id="f" src="{server.base}/watch/{rid}"></iframe>')

    framing.router.add_get("/", evil)
    runner = web.AppRunner(framing)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with chromium() as browser:
            context = await browser.new_context()
            await context.add_init_script(VIOLATIONS)
            for path in ["/", "/studio", f"/studio/{rid}", f"/watch/{rid}", "/ops",
                         "/classes", "/classes/c_000000000000"]:
                page = await context.new_page()
                console: list[str] = []
                page.on("console", lambda m, c=console: c.append(m.text))
                await page.goto(server.base + path)
                if path != "/":
                    await page.wait_for_function(
                        "() => document.querySelectorAll('#lang option').length > 1")
                assert await page.evaluate(STYLED), path
                await page.wait_for_timeout(500)
                assert await page.evaluate("() => window.__csp") == [], path
                refused = [m for m in console if "Content Security Policy" in m]
                assert refused == [], (path, refused)
                await page.close()
            page = await context.new_page()
            console = []
            page.on("console", lambda m: console.append(m.text))
            await page.goto(f"http://127.0.0.1:{port}/")
            await page.wait_for_timeout(1500)
            frame = page.frames[1] if len(page.frames) > 1 else None
            if frame is not None:
                assert not frame.url.startswith(server.base) or await frame.evaluate(
                    "() => document.querySelector('#lang') === null"), frame.url
            assert any("frame-ancestors" in m or "X-Frame-Options" in m for m in console), console
    finally:
        await runner.cleanup()
