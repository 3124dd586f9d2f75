"""Product photo uploads through the HTTP API: a host's phone photo becomes a card and a
thumbnail anyone may fetch; strangers, oversized bodies, non-images and hosts over their
quota are refused, and one host cannot delete or show another's pictures."""

from __future__ import annotations

import asyncio
import io
import os
import tempfile
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import aiohttp
import pytest
from PIL import Image

from helpers.servers import Running, start_server
from helpers.shop import Api

MAX_BYTES = 200_000


def _photo(width: int = 1600, height: int = 1200) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (200, 120, 30)).save(buf, "JPEG", quality=90)
    return buf.getvalue()


@pytest.fixture
async def shop(redis_url: str) -> AsyncIterator[Running]:
    with tempfile.TemporaryDirectory(prefix="sc-up-") as data:
        async with start_server(redis_url, {
                "STALLCAST_DATA_DIR": data, "STALLCAST_UPLOADS_MAX_IMAGE_BYTES": str(MAX_BYTES),
                "STALLCAST_UPLOADS_IMAGES_PER_HOST": "2"}) as server:
            yield server


async def _upload(http: aiohttp.ClientSession, base: str, token: str | None, data: bytes,
                  kind: str = "image/jpeg") -> tuple[int, dict[str, object]]:
    headers = {"Content-Type": kind}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    async with http.post(f"{base}/api/uploads", data=data, headers=headers) as resp:
        return resp.status, await resp.json()


async def test_a_hosts_photo_becomes_card_and_thumbnail(shop: Running) -> None:
    _, host = await shop.new_host()
    async with aiohttp.ClientSession() as http:
        status, made = await _upload(http, shop.base, host, _photo())
        assert status == 201, made
        assert (made["width"], made["height"]) == (720, 540)
        assert made["card"] == f"/uploads/{made['image_id']}-card.jpg"
        for url, size in ((made["card"], (720, 540)), (made["thumb"], (240, 240))):
            async with http.get(f"{shop.base}{url}") as resp:
                assert resp.status == 200 and resp.content_type == "image/jpeg"
                assert "immutable" in resp.headers["Cache-Control"]
                assert resp.headers["X-Content-Type-Options"] == "nosniff"
                assert Image.open(io.BytesIO(await resp.read())).size == size
        for name in ("nope.jpg", "..%2Fstallcast.toml", f"{made['image_id']}-card.png",
                     f"{made['image_id']}-big.jpg"):
            async with http.get(f"{shop.base}/uploads/{name}") as resp:
                assert resp.status == 404, name

        # A real photo's worth of bytes, well over the JSON and SDP body limits.
        noise = io.BytesIO()
        Image.frombytes("RGB", (240, 160), os.urandom(240 * 160 * 3)).save(noise, "PNG")
        assert 65536 < len(noise.getvalue()) < MAX_BYTES
        status, big = await _upload(http, shop.base, host, noise.getvalue(), "image/png")
        assert status == 201 and (big["width"], big["height"]) == (240, 160), big

        # The host's product may show it.
        api = Api(shop.base, http)
        product = await api.product(host, image=made["card"], thumb=made["thumb"])
        assert product["thumb"] == made["thumb"]


async def test_strangers_non_images_and_wrong_types_are_refused(shop: Running) -> None:
    _, host = await shop.new_host()
    async with aiohttp.ClientSession() as http:
        status, body = await _upload(http, shop.base, None, _photo())
        assert status == 401
        status, body = await _upload(http, shop.base, host, _photo(), "text/plain")
        assert status == 415 and body["error"]["code"] == "unsupported_media_type"
        status, body = await _upload(http, shop.base, host, b"<svg/>", "image/png")
        assert status == 400 and body["error"]["code"] == "bad_image"
        status, body = await _upload(http, shop.base, host, b"", "image/jpeg")
        assert status == 400 and body["error"]["code"] == "bad_image"
        # A refused upload takes no place in the quota: two good ones still fit.
        for _ in range(2):
            status, body = await _upload(http, shop.base, host, _photo(300, 200))
            assert status == 201, body


async def test_an_oversized_body_is_refused_before_it_is_read(shop: Running) -> None:
    _, host = await shop.new_host()
    url = urlsplit(shop.base)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    writer.write((f"POST /api/uploads HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {host}\r\n"
                  "Content-Type: image/jpeg\r\nContent-Length: 50000000\r\n\r\n").encode())
    await writer.drain()
    # Nothing of the 50 MB is sent: the answer comes from the headers alone.
    status_line = await asyncio.wait_for(reader.readline(), 10)
    assert status_line.split()[1] == b"413", status_line
    writer.close()
    # Chunked, with no length to judge by: refused once past the cap.
    async with aiohttp.ClientSession() as http:
        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(MAX_BYTES // 50_000 + 2):
                yield b"\xff" * 50_000

        async with http.post(f"{shop.base}/api/uploads", data=chunks(), headers={
                "Authorization": f"Bearer {host}", "Content-Type": "image/jpeg"}) as resp:
            assert resp.status == 413
            assert (await resp.json())["error"]["code"] == "too_large"


async def test_quota_and_ownership(shop: Running) -> None:
    _, host = await shop.new_host()
    _, other = await shop.new_host("Other farm")
    async with aiohttp.ClientSession() as http:
        api = Api(shop.base, http)
        first = (await _upload(http, shop.base, host, _photo(400, 300)))[1]
        await _upload(http, shop.base, host, _photo(400, 300))
        status, body = await _upload(http, shop.base, host, _photo(400, 300))
        assert status == 429 and body["error"]["code"] == "quota"
        assert (await _upload(http, shop.base, other, _photo(400, 300)))[0] == 201

        # Another host can neither delete the picture nor show it on its product.
        status, _ = await api.call("DELETE", f"/api/uploads/{first['image_id']}", other)
        assert status == 403
        status, body = await api.call("POST", "/api/products", other, {
            "title": "Stolen", "price": 100, "currency": "CNY", "stock": 1,
            "image": first["card"]})
        assert status == 403, body
        status, _ = await api.call("DELETE", "/api/uploads/i_" + "0" * 24, host)
        assert status == 404

        # Deleting one frees its place, and its files are gone.
        await api.ok("DELETE", f"/api/uploads/{first['image_id']}", host)
        async with http.get(f"{shop.base}{first['card']}") as resp:
            assert resp.status == 404
        assert (await _upload(http, shop.base, host, _photo(400, 300)))[0] == 201


async def test_uploads_in_flight_are_capped_per_host(shop: Running) -> None:
    """Bodies are held whole until decoded: a host's third upload while two are still
    arriving is told to retry instead of holding more memory."""
    _, host = await shop.new_host()
    url = urlsplit(shop.base)
    slow = []
    for _ in range(2):
        reader, writer = await asyncio.open_connection(url.hostname, url.port)
        writer.write((f"POST /api/uploads HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {host}"
                      "\r\nContent-Type: image/jpeg\r\nContent-Length: 100000\r\n\r\n").encode()
                     + b"\xff" * 1000)
        await writer.drain()
        slow.append((reader, writer))
    await asyncio.sleep(0.5)
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{shop.base}/api/uploads", data=b"\xff" * 10, headers={
                "Authorization": f"Bearer {host}", "Content-Type": "image/jpeg"}) as resp:
            assert resp.status == 503
            assert resp.headers["Retry-After"] == "2"
            assert (await resp.json())["error"]["code"] == "busy"
        for _, writer in slow:
            writer.close()
        await asyncio.sleep(0.5)
        # Once they are gone the host may upload again (this one is no image: 400, not 503).
        async with http.post(f"{shop.base}/api/uploads", data=b"\xff" * 10, headers={
                "Authorization": f"Bearer {host}", "Content-Type": "image/jpeg"}) as resp:
            assert resp.status == 400, await resp.text()
