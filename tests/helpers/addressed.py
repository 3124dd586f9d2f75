"""A JSON client that speaks from a client address of its choosing: the test server
believes X-Forwarded-For from 127.0.0.1 (``PROXIED``), so per-address limits, mutes and
budgets can be tested with many addresses from one machine."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp

PROXIED = {"STALLCAST_HTTP_TRUSTED_PROXIES": "127.0.0.1"}


class Client:
    """A JSON client that speaks from one address (via the trusted proxy's header)."""

    def __init__(self, base: str, http: aiohttp.ClientSession, address: str) -> None:
        self.base, self.http, self.address = base, http, address

    async def call(self, method: str, path: str, token: str | None = None, json: Any = None,
                   data: bytes | None = None) -> tuple[int, Any, Mapping[str, str]]:
        """(status, JSON body or None, headers); ``data`` is sent raw as JSON."""
        headers = {"X-Forwarded-For": self.address}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if data is not None:
            headers["Content-Type"] = "application/json"
        async with self.http.request(method, self.base + path, json=json, data=data,
                                     headers=headers) as resp:
            body = await resp.json() if resp.content_type == "application/json" else None
            return resp.status, body, resp.headers

    async def viewer(self) -> tuple[str, str]:
        status, body, _ = await self.call("POST", "/api/viewers")
        assert status == 201, body
        return body["viewer_id"], body["token"]

    async def chat(self, room_id: str, token: str, text: str = "hello") -> tuple[int, Any]:
        status, body, _ = await self.call("POST", f"/api/rooms/{room_id}/chat", token,
                                          {"text": text})
        return status, body
