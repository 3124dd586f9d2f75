"""Small pieces every handler uses: JSON errors, body limits, bearer tokens, CORS and
security headers."""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import json
import logging
import math
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from server.platform import wire
from server.platform.errors import STORAGE_ERRORS, STORAGE_RETRY_AFTER_S, RuleError

log = logging.getLogger("stallcast.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CORS_HEADERS = "Authorization, Content-Type, If-Match"
CORS_EXPOSE = "Location, Link, ETag, Accept-Patch, Accept-Post"
CORS_METHODS = "GET, POST, PATCH, DELETE, OPTIONS"


@functools.lru_cache(maxsize=256)
def _cached_error_body(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message}}).encode()


def error_body(code: str, message: str) -> bytes:
    """``{"error": {"code", "message"}}``. The few refusals a flash sale answers thousands
    of times a second (sold out, limit) are encoded once; long messages, which may quote
    input, are not kept."""
    if len(message) <= 160:
        return _cached_error_body(code, message)
    return json.dumps({"error": {"code": code, "message": message}}).encode()


class ApiError(web.HTTPException):
    """An HTTP error with a JSON body ``{"error": {"code", "message"}}``."""

    def __init__(self, status: int, code: str, message: str,
                 headers: dict[str, str] | None = None) -> None:
        self.status_code = status
        super().__init__(text=error_body(code, message).decode(),
                         content_type="application/json", headers=headers)


def bearer_token(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "unauthorized", "missing Authorization: Bearer <token>",
                       headers={"WWW-Authenticate": 'Bearer realm="stallcast"'})
    return token.strip()


BODY_TIMEOUT = web.AppKey("body_timeout_s", float)
DEFAULT_BODY_TIMEOUT_S = 30.0


async def read_body(request: web.Request, limit: int) -> bytes:
    """Read at most ``limit`` bytes within the app's body timeout; a bigger body is refused
    with 413 without reading it all, a body that arrives too slowly with 408."""
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, "too_large", f"body over {limit} bytes")
    if request.content.is_eof():
        # The whole body came with the headers (a buy, a chat line): nothing to wait for,
        # so no timer to arm. The parser never buffers more than the declared length.
        body = request.content.read_nowait(-1)
        if len(body) > limit:
            raise ApiError(413, "too_large", f"body over {limit} bytes")
        return body
    chunks: list[bytes] = []
    size = 0
    seconds = request.app.get(BODY_TIMEOUT, DEFAULT_BODY_TIMEOUT_S)
    try:
        async with asyncio.timeout(seconds):
            async for chunk in request.content.iter_chunked(65536):
                size += len(chunk)
                if size > limit:
                    raise ApiError(413, "too_large", f"body over {limit} bytes")
                chunks.append(chunk)
    except TimeoutError:
        raise ApiError(408, "timeout", f"the body did not arrive within {seconds:g} s",
                       headers={"Connection": "close"}) from None
    return b"".join(chunks)


async def read_json(request: web.Request, limit: int) -> dict[str, Any]:
    if request.content_type != "application/json":
        raise ApiError(415, "unsupported_media_type", "Content-Type must be application/json")
    raw = await read_body(request, limit)
    try:
        data = wire.loads(raw)
    except wire.WireError as exc:
        raise ApiError(400, "bad_json", str(exc)) from None
    if not isinstance(data, dict):
        raise ApiError(400, "bad_json", "JSON body must be an object")
    return data


# Routes any web page may call: players and shop widgets embed elsewhere. Everything else
# (host, operator and order APIs, pages, static files, /metrics) is private: only the
# configured http.cors_origins may call it. Templates use aiohttp's {name} segments.
PUBLIC_CORS_PATHS = (
    "/healthz", "/api/openapi.json",
    "/whip/{room_id}", "/whip/{room_id}/{session_id}",
    "/whep/{room_id}", "/whep/{room_id}/{session_id}",
    "/vod/{class_id}/{name}",
    "/api/viewers", "/api/me", "/api/me/orders", "/api/me/orders/{order_id}",
    "/api/rooms/{room_id}/public", "/api/rooms/{room_id}/state", "/api/rooms/{room_id}/buy",
    "/api/rooms/{room_id}/chat", "/api/rooms/{room_id}/likes",
    "/api/classes", "/api/classes/{class_id}", "/api/classes/{class_id}/play",
    "/api/classes/{class_id}/buy", "/api/classes/{class_id}/position",
)
_PUBLIC_RE = re.compile("|".join(
    "[^/]+".join(re.escape(part) for part in re.split(r"\{[a-z_]+\}", template))
    for template in PUBLIC_CORS_PATHS))


def is_public_path(path: str) -> bool:
    """Whether ``path`` is one of PUBLIC_CORS_PATHS: open to pages on any allowed origin."""
    return _PUBLIC_RE.fullmatch(path) is not None


def _origins(spec: str) -> frozenset[str]:
    return frozenset(o.strip().rstrip("/") for o in spec.split(",") if o.strip())


def _add_vary(resp: web.StreamResponse, name: str) -> None:
    current = [v.strip() for v in resp.headers.get("Vary", "").split(",") if v.strip()]
    if name.lower() not in {v.lower() for v in current} and "*" not in current:
        resp.headers["Vary"] = ", ".join([*current, name])


def cors(private_origins: str, public_origins: str = "*") -> tuple[
        Any, Callable[[web.Request, web.StreamResponse], Awaitable[None]]]:
    """A middleware answering preflights and an ``on_response_prepare`` hook that labels
    every response, streamed ones and errors included, just before its headers go out.

    Private paths accept ``private_origins``, public ones those and ``public_origins`` ("*"
    = any, "" = none). Every response varies on Origin, so no cache hands one origin's
    answer to another.
    """
    private = _origins(private_origins)
    public = private | _origins(public_origins)

    def allow_origin(request: web.Request) -> str | None:
        origin = request.headers.get("Origin")
        if origin is None:
            return None
        allowed = public if is_public_path(request.path) else private
        if "*" in allowed:
            return "*"
        return origin if origin.rstrip("/") in allowed else None

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method == "OPTIONS" and request.headers.get("Access-Control-Request-Method"):
            resp: web.StreamResponse = web.Response(status=204)
            if allow_origin(request):
                resp.headers["Access-Control-Allow-Methods"] = CORS_METHODS
                resp.headers["Access-Control-Allow-Headers"] = CORS_HEADERS
                resp.headers["Access-Control-Max-Age"] = "86400"
            return resp
        return await handler(request)

    async def on_prepare(request: web.Request, resp: web.StreamResponse) -> None:
        _add_vary(resp, "Origin")
        origin = allow_origin(request)
        if origin:
            resp.headers["Access-Control-Allow-Origin"] = origin
            resp.headers["Access-Control-Expose-Headers"] = CORS_EXPOSE

    return middleware, on_prepare


# Every response: no MIME sniffing (a JSON or text body never runs as a script or page), no
# Referer to other sites (product images are external URLs).
COMMON_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
# The pages keep host and operator tokens in localStorage: only their own scripts may run,
# nothing may frame them, they talk only to this server. Product images may be anywhere.
PAGE_CSP = "; ".join((
    "default-src 'none'", "script-src 'self'", "style-src 'self'",
    "img-src 'self' data: blob: http: https:", "media-src 'self' blob:",
    "connect-src 'self'", "font-src 'self'", "manifest-src 'self'", "form-action 'self'",
    "base-uri 'none'", "object-src 'none'", "frame-ancestors 'none'",
))


async def security_headers(request: web.Request, resp: web.StreamResponse) -> None:
    """``on_response_prepare``: the headers above on every response. The CSP goes on all of
    them, not only text/html ones: a 304 for a page carries no Content-Type, yet browsers
    take its headers into the cached page. A handler that sets its own CSP or
    X-Frame-Options (an embeddable player) keeps them."""
    for name, value in COMMON_HEADERS.items():
        resp.headers[name] = value
    resp.headers.setdefault("Content-Security-Policy", PAGE_CSP)
    resp.headers.setdefault("X-Frame-Options", "DENY")




# The one table from a rule's code to an HTTP status; codes not listed are 400.
RULE_STATUS = {
    "unauthorized": 401, "forbidden": 403, "muted": 403, "not_found": 404,
    "conflict": 409, "insufficient": 409, "sold_out": 409, "not_started": 409, "ended": 409,
    "limit": 409, "rate_limited": 429, "unavailable": 503,
    "archived": 409, "quota": 429, "unsupported_media_type": 415,
    "coupon_invalid": 409, "coupon_ended": 409, "coupon_unclaimed": 409, "coupon_used": 409,
    "coupon_minimum": 409, "coupon_gone": 409,
    "merged": 401,  # an identity merged into an account, refused inside a script
}


# A merged identity refused inside a script is answered as the auth helper answers it.
RULE_HEADERS = {"merged": {"WWW-Authenticate": 'Bearer error="invalid_token"'}}


def _rule_headers(exc: RuleError) -> dict[str, str] | None:
    if exc.retry_after:
        return {"Retry-After": str(max(1, math.ceil(exc.retry_after)))}
    return RULE_HEADERS.get(exc.code)


def rule_response(exc: RuleError) -> web.Response:
    """A rule's JSON error, returned rather than raised: a refused buy is the common case
    of a flash sale, and an exception unwinding through aiohttp costs more than the answer."""
    headers = _rule_headers(exc)
    return web.Response(body=error_body(exc.code, str(exc)), status=RULE_STATUS.get(exc.code, 400),
                        content_type="application/json", headers=headers)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn rule errors, aiohttp's plain-text errors and unexpected exceptions into JSON
    errors with the right status."""
    try:
        return await handler(request)
    except ApiError:
        raise
    except RuleError as exc:
        return rule_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if exc.status == 413:
            raise ApiError(413, "too_large", "request body too large") from None
        code = exc.reason.lower().replace(" ", "_")
        keep = {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "www-authenticate")}
        raise ApiError(exc.status, code, exc.reason, headers=keep) from None
    except STORAGE_ERRORS as exc:
        # Redis restarting or unreachable: nothing was acknowledged, so the client may
        # retry; live media does not depend on Redis and keeps flowing meanwhile.
        log.warning("storage unavailable", extra={"path": request.path,
                                                  "reason": type(exc).__name__})
        raise ApiError(503, "unavailable", "storage is reconnecting; retry shortly",
                       headers={"Retry-After": str(STORAGE_RETRY_AFTER_S)}) from None
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


def is_trusted_proxy(peer: str, trusted_proxies: str) -> bool:
    address = _address(peer)
    return address is not None and any(address in n for n in _networks(trusted_proxies))


_warned_peers: set[str] = set()


def _warn_ignored_forwarded(peer: str) -> None:
    """Said for the first few peers only: a proxy missing from http.trusted_proxies makes
    every client it forwards look like one address."""
    if len(_warned_peers) < 4 and peer not in _warned_peers:
        _warned_peers.add(peer)
        log.warning("X-Forwarded-For ignored: the peer is not in http.trusted_proxies",
                    extra={"peer": peer})
