"""What viewers do over HTTP (for clients without a data channel): identity, buy, chat, like,
their own orders, and the room snapshot."""

from __future__ import annotations

import math
from collections.abc import Awaitable
from typing import Any

from aiohttp import web

from server.audience.rules import nickname
from server.audience.signin import MERGED
from server.commerce.service import order_view
from server.live.context import ctx
from server.live.snapshot import room_snapshot
from server.platform.wire import json_response
from server.web.http import ApiError, bearer_token, client_address, read_json

routes = web.RouteTableDef()


def bad_token() -> ApiError:
    return ApiError(401, "unauthorized", "unknown or tampered viewer token",
                    headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


def current_viewer(request: web.Request) -> str:
    viewers = ctx(request).viewers
    viewer_id = viewers.verify(bearer_token(request))
    if viewer_id is None:
        raise bad_token()
    if viewers.merged_into(viewer_id) is not None:  # in memory: no round trip per request
        raise ApiError(401, "merged", MERGED,
                       headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    return viewer_id


def optional_viewer(request: web.Request) -> str | None:
    if "Authorization" not in request.headers:
        return None
    return current_viewer(request)


async def _room_id(request: web.Request) -> str:
    room = await ctx(request).store.get_room(request.match_info["room_id"])
    if room is None:
        raise ApiError(404, "not_found", "no such room")
    return room.room_id


async def _body(request: web.Request) -> dict[str, Any]:
    return await read_json(request, ctx(request).config.http.max_json_bytes)


async def order_response(placing: Awaitable[dict[str, Any]]) -> web.Response:
    """Answer a buy: 201 for a new order, 200 for a replayed idempotency key (a refusal
    is a RuleError: the error middleware answers it)."""
    order = await placing
    return json_response(order, status=201 if order["created"] else 200)


async def client_tag(request: web.Request) -> str:
    """The requester's address as limits and mutes know it (see Chat.client_tag)."""
    app = ctx(request)
    return await app.chat.client_tag(client_address(request, app.config.http.trusted_proxies))


@routes.post("/api/viewers")
async def new_viewer(request: web.Request) -> web.Response:
    """A new anonymous identity, within its client address's budget of them."""
    app = ctx(request)
    client = await client_tag(request)
    if client:
        verdict = await app.viewers.allow_mint(client)
        if not verdict.allowed:
            raise ApiError(429, "rate_limited",
                           f"at most {app.viewers.mints_per_minute} new viewer identities "
                           "a minute per address",
                           headers={"Retry-After": str(max(1, math.ceil(verdict.retry_after)))})
    viewer_id, token = app.viewers.issue()
    await app.chat.note_mint(viewer_id, client)
    return json_response({"viewer_id": viewer_id, "token": token}, status=201)


@routes.get("/api/me")
async def me(request: web.Request) -> web.Response:
    viewer_id = current_viewer(request)
    app = ctx(request)
    contact = await app.commerce.contact_of(viewer_id)
    return json_response({"viewer_id": viewer_id, "contact": contact,
                          "nickname": await app.chat.nickname(viewer_id),
                          "account": await app.accounts.account_of(viewer_id)})


@routes.put("/api/me")
async def set_me(request: web.Request) -> web.Response:
    """Choose the nickname chat shows (1-24 characters)."""
    viewer_id = current_viewer(request)
    body = await _body(request)
    if set(body) != {"nickname"}:
        raise ApiError(400, "invalid", "send {\"nickname\": ...}")
    name = nickname(body["nickname"])
    await ctx(request).chat.set_nickname(viewer_id, name)
    return json_response({"viewer_id": viewer_id, "nickname": name})


@routes.get("/api/me/orders")
async def my_orders(request: web.Request) -> web.Response:
    viewer_id = current_viewer(request)
    orders = await ctx(request).commerce.orders_of_buyer(viewer_id)
    return json_response({"orders": [order_view(o) for o in orders]})


@routes.get("/api/me/orders/{order_id}")
async def my_order(request: web.Request) -> web.Response:
    viewer_id = current_viewer(request)
    order = await ctx(request).commerce.get_order(request.match_info["order_id"])
    if order is None or order["buyer_id"] != viewer_id:
        raise ApiError(404, "not_found", "no such order")
    return json_response(order_view(order))


@routes.post("/api/rooms/{room_id}/buy")
async def buy(request: web.Request) -> web.Response:
    viewer_id = current_viewer(request)
    body = await _body(request)
    # One Redis round trip: the buy script itself refuses an unknown room (404).
    return await order_response(ctx(request).commerce.buy(request.match_info["room_id"],
                                                          viewer_id, body))


@routes.post("/api/rooms/{room_id}/chat")
async def chat(request: web.Request) -> web.Response:
    """A viewer's message, or with the room's host token the host's (role "host")."""
    app = ctx(request)
    viewer_id = app.viewers.verify(bearer_token(request))
    if viewer_id is None:
        return await _host_chat(request)
    room_id = await _room_id(request)
    body = await _body(request)
    message = await app.chat.send(room_id, viewer_id, body.get("name", ""), body.get("text"),
                                  client=await client_tag(request))
    return json_response(message, status=201)


async def _host_chat(request: web.Request) -> web.Response:
    app = ctx(request)
    host = await app.store.host_for_token(bearer_token(request))
    if host is None:
        raise bad_token()
    room = await app.store.get_room(request.match_info["room_id"])
    if room is None:
        raise ApiError(404, "not_found", "no such room")
    if room.host_id != host.host_id:
        raise ApiError(403, "forbidden", "this room belongs to another host")
    body = await _body(request)
    message = await app.chat.host_send(room.room_id, host.name, body.get("text"))
    return json_response(message, status=201)


@routes.post("/api/rooms/{room_id}/likes")
async def like(request: web.Request) -> web.Response:
    viewer_id = current_viewer(request)
    room_id = await _room_id(request)
    body = await _body(request)
    total = await ctx(request).chat.like(room_id, viewer_id, body.get("count"))
    return json_response({"total": total})


@routes.get("/api/rooms/{room_id}/state")
async def state(request: web.Request) -> web.Response:
    room_id = await _room_id(request)
    return json_response(await room_snapshot(ctx(request), room_id))
