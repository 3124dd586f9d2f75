"""A JSON POST to an operator's gateway (SMS codes, show reminders): Stallcast sends no SMS
or push itself, operators point these at whatever already does."""

from __future__ import annotations

from typing import Any

import aiohttp


class Webhook:
    """One gateway URL, an optional bearer secret, one pooled session made on first use."""

    def __init__(self, url: str, secret: str, timeout_s: float) -> None:
        self.url = url
        self._headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._http: aiohttp.ClientSession | None = None

    async def post(self, payload: dict[str, Any]) -> str | None:
        """None when the gateway took it (any 2xx), else why not: the caller decides what
        to log, so nothing in ``payload`` (a code) can reach a log from here."""
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=self._timeout)
        try:
            async with self._http.post(self.url, json=payload,
                                       headers=self._headers) as resp:
                return None if 200 <= resp.status < 300 else f"HTTP {resp.status}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            return type(exc).__name__

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None
