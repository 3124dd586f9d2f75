"""HTTP helpers for commerce tests and benchmarks."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import aiohttp

CONTACT = {"name": "Li Wei", "phone": "+86 138 0000 0000", "address": "8 Binhai Road, Haikou"}


def contact_for(viewer_id: str) -> dict[str, str]:
    """A distinct person for each viewer: per-buyer limits count per phone and address too,
    so tests with many buyers need many people, not one contact shared by all."""
    n = int(hashlib.sha256(viewer_id.encode()).hexdigest()[:12], 16) % 10**9
    return {"name": f"Buyer {viewer_id[-4:]}", "phone": f"+86 13{n:09d}",
            "address": f"{n} Binhai Road, Haikou"}


class Api:
    """A tiny JSON client that returns (status, body) and never raises on 4xx."""

    def __init__(self, base: str, http: aiohttp.ClientSession) -> None:
        self.base = base
        self.http = http

    async def call(self, method: str, path: str, token: str | None = None,
                   json: Any = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.http.request(method, self.base + path, json=json,
                                     headers=headers) as resp:
            if resp.content_type == "application/json":
                return resp.status, await resp.json()
            return resp.status, await resp.text()

    async def ok(self, method: str, path: str, token: str | None = None,
                 json: Any = None) -> Any:
        status, body = await self.call(method, path, token, json)
        assert 200 <= status < 300, (method, path, status, body)
        return body

    async def live_sessions(self, token: str) -> list[dict[str, Any]]:
        """Live sessions with their current figures, as an operator or host sees them."""
        return (await self.ok("GET", "/api/ops/sessions", token))[  # type: ignore[no-any-return]
            "sessions"]

    async def orders(self, host: str, query: str = "") -> list[dict[str, Any]]:
        """Every order the host's list holds (all its pages), newest first."""
        out: list[dict[str, Any]] = []
        after = ""
        while True:
            page = await self.ok("GET", f"/api/orders?limit=500&after={after}&{query}", host)
            out += page["orders"]
            if not page["next"]:
                return out
            after = page["next"]

    async def viewer(self) -> tuple[str, str]:
        body = await self.ok("POST", "/api/viewers")
        return body["viewer_id"], body["token"]

    async def pin_and_buy(self, host: str, room_id: str, product_id: str, quantity: int,
                          key: str) -> str:
        """Pin the product in the room and have a new buyer (CONTACT) order ``quantity`` of
        it with idempotency key ``key``; the buyer's token."""
        await self.ok("PUT", f"/api/rooms/{room_id}/pin", host, {"product_id": product_id})
        _, buyer = await self.viewer()
        await self.ok("POST", f"/api/rooms/{room_id}/buy", buyer, {
            "product_id": product_id, "quantity": quantity, "idempotency_key": key,
            "contact": CONTACT})
        return buyer

    async def product(self, host: str, **fields: Any) -> dict[str, Any]:
        body = {"title": "Alphonso mangoes 1 kg", "price": 3900, "currency": "CNY",
                "stock": 1000, "per_buyer_limit": 5, **fields}
        return await self.ok("POST", "/api/products", host, body)  # type: ignore[no-any-return]

    async def sale(self, host: str, room_id: str, product_id: str,
                   **fields: Any) -> dict[str, Any]:
        body = {"product_id": product_id, "price": 2900, "quantity": 100, "duration": 300,
                "per_buyer_limit": 2, **fields}
        return await self.ok(  # type: ignore[no-any-return]
            "POST", f"/api/rooms/{room_id}/sales", host, body)

    async def confirm_class_order(self, host: str, class_id: str,
                                  timeout: float = 20) -> dict[str, Any]:
        """The teacher confirms the transfer for the newest reserved order of a class (a
        class unlocks on a confirmed payment, never on delivery)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for order in await self.orders(host):
                if order["product_id"] == class_id and order["status"] == "reserved":
                    assert order["kind"] == "digital", order
                    return await self.ok(  # type: ignore[no-any-return]
                        "POST", f"/api/orders/{order['order_id']}/confirm", host)
            assert asyncio.get_running_loop().time() < deadline, "no class order to confirm"
            await asyncio.sleep(0.2)
