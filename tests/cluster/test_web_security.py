"""Security headers on every response and CORS by route (pages that need no inline code:
unit/test_page_sources.py; pages run under the policy in Chromium:
browser/test_web_security_browser.py).

The pages keep host and operator tokens in localStorage, so an injected script, a framing
page or a foreign origin reading the host API would be a stolen shop.
"""

from __future__ import annotations

import aiohttp
from multidict import CIMultiDictProxy

from helpers.servers import Running, start_server

FOREIGN = "https://evil.example"


def csp(header: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            out[words[0].lower()] = set(words[1:])
    return out


def assert_secure(h: CIMultiDictProxy[str], what: str) -> None:
    assert h.get("X-Content-Type-Options") == "nosniff", (what, h)
    assert h.get("Referrer-Policy") in ("no-referrer", "strict-origin-when-cross-origin"), what
    assert h.get("X-Frame-Options") == "DENY", (what, h)
    policy = csp(h.get("Content-Security-Policy", ""))
    assert policy.get("script-src") == {"'self'"}, (what, policy)
    for directive, value in [("object-src", "'none'"), ("base-uri", "'none'"),
                             ("frame-ancestors", "'none'")]:
        assert policy.get(directive) == {value}, (what, directive, policy)
    assert policy.get("connect-src") == {"'self'"}, (what, policy)
    assert policy.get("media-src") == {"'self'", "blob:"}, (what, policy)
    assert {"'self'", "data:", "https:"} <= policy.get("img-src", set()), (what, policy)
    assert policy.get("default-src") == {"'none'"}, (what, policy)
    loose = {"'unsafe-inline'", "'unsafe-eval'", "*", "data:"}
    for directive in ("script-src", "style-src"):
        assert not policy.get(directive, set()) & loose, (what, directive, policy)


def vary(headers: CIMultiDictProxy[str]) -> set[str]:
    raw = ",".join(headers.getall("Vary", []))
    return {v.strip().lower() for v in raw.split(",") if v.strip()}


async def test_every_response_carries_the_security_headers(server: Running) -> None:
    _, host = await server.new_host()
    room = await server.new_room(host)
    rid = room["room_id"]
    pages = ["/", "/studio", f"/studio/{rid}", f"/watch/{rid}", "/ops", "/classes",
             "/classes/c_000000000000"]
    others = [("GET", "/static/shared/app.css", 200),
              ("GET", "/static/vendor/hls.light.min.js", 200), ("GET", "/static/nope.js", 404),
              ("GET", "/api/openapi.json", 200), ("GET", "/healthz", 200),
              ("GET", "/api/rooms", 401), ("GET", f"/api/rooms/{rid}/public", 200),
              ("GET", "/no/such/page", 404), ("PUT", "/healthz", 405),
              ("POST", f"/whep/{rid}", 415),
              ("GET", "/vod/c_x/index.m3u8?exp=1&scope=full&sig=00", 404)]
    async with aiohttp.ClientSession() as http:
        for path in pages:
            async with http.get(server.base + path) as resp:
                assert resp.status == 200 and resp.content_type == "text/html", path
                assert_secure(resp.headers, path)
                modified = resp.headers["Last-Modified"]
            # A revalidated page: the 304 has no Content-Type but its headers replace the
            # cached ones, so it must carry the same policy.
            async with http.get(server.base + path,
                                headers={"If-Modified-Since": modified}) as resp:
                assert resp.status == 304, path
                assert_secure(resp.headers, f"304 {path}")
        for method, path, status in others:
            async with http.request(method, server.base + path) as resp:
                assert resp.status == status, (method, path, resp.status)
                assert_secure(resp.headers, f"{method} {path}")


# The explicit split the issue asks for: these answer any allowed origin, the rest only the
# configured one. Method-independent: a public path is public for every method on it.
PUBLIC = {
    "/healthz", "/api/openapi.json", "/whip/{room_id}", "/whip/{room_id}/{session_id}",
    "/whep/{room_id}", "/whep/{room_id}/{session_id}", "/vod/{class_id}/{name}",
    "/api/viewers", "/api/me", "/api/me/orders", "/api/me/orders/{order_id}",
    "/api/rooms/{room_id}/public", "/api/rooms/{room_id}/state", "/api/rooms/{room_id}/buy",
    "/api/rooms/{room_id}/chat", "/api/rooms/{room_id}/likes", "/api/classes",
    "/api/classes/{class_id}", "/api/classes/{class_id}/play", "/api/classes/{class_id}/buy",
    "/api/classes/{class_id}/position",
}


def concrete(template: str) -> str:
    return (template.replace("{room_id}", "r_0123456789ab").replace("{session_id}", "x1")
            .replace("{class_id}", "c_0123456789ab").replace("{name}", "index.m3u8")
            .replace("{order_id}", "o_0123456789abcdef").replace("{product_id}", "p_1")
            .replace("{sale_id}", "s_1").replace("{message_id}", "m_1"))


async def test_every_route_is_classified_public_or_private(server: Running) -> None:
    from server.web.http import is_public_path

    templates = {r.canonical for r in server.app.router.resources()}
    assert PUBLIC <= templates, PUBLIC - templates  # the list names real routes
    private = templates - PUBLIC
    for must in ("/api/rooms", "/api/rooms/{room_id}", "/api/products", "/api/orders",
                 "/api/orders.csv", "/api/sessions", "/api/ops/sessions", "/metrics",
                 "/api/rooms/{room_id}/pin", "/api/rooms/{room_id}/sales",
                 "/api/rooms/{room_id}/mutes", "/api/rooms/{room_id}/chat/{message_id}"):
        assert must in private, must
    for template in templates:
        assert is_public_path(concrete(template)) == (template in PUBLIC), template


async def test_cors_defaults_open_public_routes_only(server: Running) -> None:
    _, host = await server.new_host()
    room = await server.new_room(host)
    rid = room["room_id"]
    operator = await server.new_operator()
    auth = {"Authorization": f"Bearer {host}", "Origin": FOREIGN}
    async with aiohttp.ClientSession() as http:
        for path in ("/healthz", f"/api/rooms/{rid}/public", f"/api/rooms/{rid}/state",
                     "/api/classes"):
            async with http.get(server.base + path, headers={"Origin": FOREIGN}) as resp:
                assert resp.status == 200, path
                assert resp.headers.get("Access-Control-Allow-Origin") == "*", path
                assert "origin" in vary(resp.headers), path
        async with http.post(f"{server.base}/api/viewers", headers={"Origin": FOREIGN}) as resp:
            assert resp.status == 201 and resp.headers["Access-Control-Allow-Origin"] == "*"
        for path, token in [("/api/rooms", host), (f"/api/rooms/{rid}", host),
                            ("/api/products", host), ("/api/orders", host),
                            ("/api/orders.csv", host), ("/api/sessions", host),
                            ("/api/ops/sessions", operator), ("/metrics", operator)]:
            async with http.get(server.base + path,
                                headers={**auth, "Authorization": f"Bearer {token}"}) as resp:
                assert resp.status == 200, (path, resp.status)
                assert "Access-Control-Allow-Origin" not in resp.headers, path
                assert "Access-Control-Expose-Headers" not in resp.headers, path
                assert "origin" in vary(resp.headers), path
        # Without an Origin too: a cache must not reuse this answer for a cross-origin call.
        async with http.get(f"{server.base}/api/rooms/{rid}/public") as resp:
            assert "origin" in vary(resp.headers)
        # Preflights: granted for the public WHIP endpoint, not for the host API.
        pre = {"Origin": FOREIGN, "Access-Control-Request-Method": "POST",
               "Access-Control-Request-Headers": "authorization, content-type"}
        async with http.options(f"{server.base}/whip/{rid}", headers=pre) as resp:
            assert resp.status == 204 and resp.headers["Access-Control-Allow-Origin"] == "*"
            assert "POST" in resp.headers["Access-Control-Allow-Methods"]
        for path in ("/api/rooms", f"/api/rooms/{rid}/pin", "/api/orders/o_1/ship",
                     f"/api/rooms/{rid}/chat/m_1"):
            async with http.options(server.base + path,
                                    headers={**pre, "Access-Control-Request-Method": "DELETE"}
                                    ) as resp:
                for name in ("Access-Control-Allow-Origin", "Access-Control-Allow-Methods",
                             "Access-Control-Allow-Headers"):
                    assert name not in resp.headers, (path, name)
                assert "origin" in vary(resp.headers), path


async def test_cors_allow_lists_reflect_with_vary(redis_url: str) -> None:
    studio, player = "https://studio.example", "https://player.example"
    env = {"STALLCAST_HTTP_CORS_ORIGINS": f"{studio}, https://other.example",
           "STALLCAST_HTTP_PUBLIC_CORS_ORIGINS": player}
    async with start_server(redis_url, env) as server, aiohttp.ClientSession() as http:
        _, host = await server.new_host()
        room = await server.new_room(host)
        rid = room["room_id"]
        token = {"Authorization": f"Bearer {host}"}
        cases = [(f"/api/rooms/{rid}", studio, studio), (f"/api/rooms/{rid}", player, None),
                 (f"/api/rooms/{rid}", FOREIGN, None),
                 (f"/api/rooms/{rid}/public", player, player),
                 (f"/api/rooms/{rid}/public", studio, studio),  # the studio reads it too
                 (f"/api/rooms/{rid}/public", FOREIGN, None)]
        for path, origin, allowed in cases:
            async with http.get(server.base + path, headers={**token, "Origin": origin}) as r:
                assert r.status == 200
                assert r.headers.get("Access-Control-Allow-Origin") == allowed, (path, origin)
                assert "origin" in vary(r.headers), (path, origin)
        pre = {"Access-Control-Request-Method": "PATCH",
               "Access-Control-Request-Headers": "authorization"}
        async with http.options(f"{server.base}/api/rooms/{rid}",
                                headers={**pre, "Origin": studio}) as resp:
            assert resp.headers["Access-Control-Allow-Origin"] == studio
            assert "PATCH" in resp.headers["Access-Control-Allow-Methods"]
        async with http.options(f"{server.base}/api/rooms/{rid}",
                                headers={**pre, "Origin": player}) as resp:
            assert "Access-Control-Allow-Origin" not in resp.headers
            assert "Access-Control-Allow-Methods" not in resp.headers
