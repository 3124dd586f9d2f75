"""Small pieces every handler uses: JSON errors, body limits, bearer tokens, CORS."""

from __future__ import annotations

import functools
import ipaddress
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

log = logging.getLogger("stallcast.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CORS_HEADERS = "Authorization, Content-Type, If-Match"
CORS_EXPOSE = "Location, Link, ETag, Accept-Patch, Accept-Post"
CORS_METHODS = "GET, POST, PATCH, DELETE, OPTIONS"


class ApiError(web.HTTPException):
    """An HTTP error with a JSON body ``{"error": {"code", "message"}}``."""

    def __init__(self, status: int, code: str, message: str,
                 headers: dict[str, str] | None = None) -> None:
        self.status_code = status
        super().__init__(
            text=json.dumps({"error": {"code": code, "message": message}}),
            content_type="application/json",
            headers=headers,
        )


def bearer_token(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "unauthorized", "missing Authorization: Bearer <token>",
                       headers={"WWW-Authenticate": 'Bearer realm="stallcast"'})
    return token.strip()


async def read_body(request: web.Request, limit: int) -> bytes:
    """Read at most ``limit`` bytes; a bigger body is refused with 413 without reading it all."""
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, "too_large", f"body over {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(65536):
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "too_large", f"body over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: web.Request, limit: int) -> dict[str, Any]:
    if request.content_type != "application/json":
        raise ApiError(415, "unsupported_media_type", "Content-Type must be application/json")
    raw = await read_body(request, limit)
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, "bad_json", f"invalid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "bad_json", "JSON body must be an object")
    return data


def cors(origins: str) -> tuple[Any, Callable[[web.Request, web.StreamResponse],
                                              Awaitable[None]]]:
    """A middleware answering preflights and an ``on_response_prepare`` hook that labels
    every response, streamed ones and errors included, just before its headers go out."""
    allowed = {o.strip() for o in origins.split(",") if o.strip()}

    def allow_origin(request: web.Request) -> str | None:
        origin = request.headers.get("Origin")
        if origin is None:
            return None
        if "*" in allowed:
            return "*"
        return origin if origin in allowed else None

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = allow_origin(request)
        if request.method == "OPTIONS" and request.headers.get("Access-Control-Request-Method"):
            resp: web.StreamResponse = web.Response(status=204)
            if origin:
                resp.headers["Access-Control-Allow-Methods"] = CORS_METHODS
                resp.headers["Access-Control-Allow-Headers"] = CORS_HEADERS
                resp.headers["Access-Control-Max-Age"] = "86400"
            return resp
        return await handler(request)

    async def on_prepare(request: web.Request, resp: web.StreamResponse) -> None:
        origin = allow_origin(request)
        if origin:
            resp.headers["Access-Control-Allow-Origin"] = origin
            resp.headers["Access-Control-Expose-Headers"] = CORS_EXPOSE

    return middleware, on_prepare


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn aiohttp's plain-text errors and unexpected exceptions into JSON errors."""
    try:
        return await handler(request)
    except ApiError:
        raise
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if exc.status == 413:
            raise ApiError(413, "too_large", "request body too large") from None
        code = exc.reason.lower().replace(" ", "_")
        keep = {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "www-authenticate")}
        raise ApiError(exc.status, code, exc.reason, headers=keep) from None
    except Exception:
        log.exception("unhandled error", extra={"path": request.path})
        raise ApiError(500, "internal", "internal server error") from None


def client_address(request: web.Request, trusted_proxies: str) -> str:
    """The address of the client behind the request: the TCP peer, or, when the peer is a
    trusted proxy, the right-most X-Forwarded-For hop that is not a trusted proxy. Hops
    further left are whatever the client chose to send, so they are never believed."""
    peer = _address(request.remote or "")
    networks = _networks(trusted_proxies)
    forwarded = request.headers.getall("X-Forwarded-For", [])
    if peer is None or not any(peer in n for n in networks):
        if forwarded:
            _warn_ignored_forwarded(str(peer))
        return str(peer) if peer is not None else ""
    client = peer
    for hop in reversed(",".join(forwarded).split(",")):
        address = _address(hop.strip())
        if address is None:
            break  # garbage from a proxy we trust: keep the last hop known to be real
        client = address
        if not any(address in n for n in networks):
            break
    return str(client)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@functools.cache
def _networks(spec: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(s.strip(), strict=False)
                 for s in spec.split(",") if s.strip())


_warned_peers: set[str] = set()


def _warn_ignored_forwarded(peer: str) -> None:
    """Said for the first few peers only: a proxy missing from http.trusted_proxies makes
    every client it forwards look like one address."""
    if len(_warned_peers) < 4 and peer not in _warned_peers:
        _warned_peers.add(peer)
        log.warning("X-Forwarded-For ignored: the peer is not in http.trusted_proxies",
                    extra={"peer": peer})
