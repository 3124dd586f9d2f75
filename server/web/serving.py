"""The HTTP server's connections: what each may cost before the application sees a request.

aiohttp keeps a connection that trickles its headers a byte at a time for as long as its
keep-alive timeout (75 s by default) and lets one address open any number of them, so a
few hundred slow clients exhaust a node's file descriptors. Here each connection gets
``header_timeout_s`` to deliver a request's headers (or to stay idle between requests),
handlers get ``body_timeout_s`` to receive a body (``http_util.read_body``), and one client
address may hold at most ``connections_per_client`` connections. A request aiohttp cannot
parse is answered with the bare status: the parser's own message quotes the raw line (an
Authorization header, a signed URL).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from http import HTTPStatus
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from server.platform.config import LimitsConfig
from server.web.http import COMMON_HEADERS, is_trusted_proxy

log = logging.getLogger("stallcast.http")

_REFUSAL = b'{"error": {"code": "rate_limited", "message": "too many connections from here"}}'
TOO_MANY = (b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n"
            b"Retry-After: 5\r\nConnection: close\r\nContent-Length: "
            + str(len(_REFUSAL)).encode() + b"\r\n\r\n" + _REFUSAL)


def _peer(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername")
    return str(peer[0]) if isinstance(peer, tuple) and peer else ""


class GuardedRequestHandler(RequestHandler):
    """Counts its connection against its address's share and answers unparseable requests
    without echoing them. (Those answers never reach the application, so its
    ``on_response_prepare`` hooks do not see them: the common headers are added here.)"""

    _guard_peer = ""
    _guard_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        server = self._manager
        assert isinstance(server, GuardedServer)
        peer = _peer(transport)
        if peer and is_trusted_proxy(peer, server.trusted_proxies):
            peer = ""  # a proxy carries many clients: they are told apart per request
        if peer and server.open_from[peer] >= server.per_client:
            # Refused before aiohttp starts on it: nothing parsed, nothing allocated.
            log.warning("connection refused: too many from one address")
            transport.write(TOO_MANY)  # type: ignore[attr-defined]
            transport.close()
            self._manager = None  # never counted: connection_lost has nothing to undo
            return
        super().connection_made(transport)
        if peer:
            self._guard_peer = peer
            server.open_from[peer] += 1
        self._arm_header_timer()

    def _arm_header_timer(self) -> None:
        """Start the clock on the request being received: its headers must all be here
        within header_timeout_s, however slowly the bytes trickle in."""
        server = self._manager
        if isinstance(server, GuardedServer) and self._guard_timer is None:
            self._guard_timer = self._loop.call_later(
                server.header_timeout, self._headers_overdue, self._request_count)

    def _headers_overdue(self, count_then: int) -> None:
        self._guard_timer = None
        transport = self.transport
        if self._request_count == count_then and transport is not None:
            log.info("connection closed: request headers too slow")
            self.force_close()
            transport.close()

    def data_received(self, data: bytes) -> None:
        before = self._request_count
        super().data_received(data)
        if self._request_count != before and self._guard_timer is not None:
            self._guard_timer.cancel()  # headers complete; the body has its own timeout
            self._guard_timer = None
        elif not (self._request_in_progress or self._messages):
            self._arm_header_timer()  # the first bytes of a request on a kept-alive one

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._guard_timer is not None:
            self._guard_timer.cancel()
            self._guard_timer = None
        server = self._manager
        if isinstance(server, GuardedServer) and self._guard_peer:
            server.open_from[self._guard_peer] -= 1
            if server.open_from[self._guard_peer] <= 0:
                del server.open_from[self._guard_peer]
            self._guard_peer = ""
        super().connection_lost(exc)

    def handle_error(self, request: BaseRequest, status: int = 500,
                     exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if message is not None:
            message = f"{status} {HTTPStatus(status).phrase}"
        resp = super().handle_error(request, status, exc, message)
        resp.headers.update(COMMON_HEADERS)
        return resp


class GuardedServer(web.Server):
    def __init__(self, *args: Any, per_client: int, header_timeout: float,
                 trusted_proxies: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.per_client = per_client
        self.header_timeout = header_timeout
        self.trusted_proxies = trusted_proxies
        self.open_from: Counter[str] = Counter()

    def __call__(self) -> RequestHandler:
        return GuardedRequestHandler(self, loop=self._loop, **self._kwargs)


class ServeRunner(web.AppRunner):
    """``web.AppRunner`` with the limits above; ``serve`` and the tests' servers use it."""

    def __init__(self, app: web.Application, limits: LimitsConfig, trusted_proxies: str = "",
                 **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.limits = limits
        self.trusted_proxies = trusted_proxies

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        return GuardedServer(server.request_handler, request_factory=server.request_factory,
                             handler_cancellation=server.handler_cancellation,
                             loop=server._loop, per_client=self.limits.connections_per_client,
                             header_timeout=float(self.limits.header_timeout_s),
                             trusted_proxies=self.trusted_proxies, **server._kwargs)
