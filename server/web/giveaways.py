"""Giveaways over HTTP, for the room's host: open one (watch time or chat keyword), draw
its winners, and read the record that makes a draw checkable (seed, sorted candidates,
winners). Winners accept their prize with POST /api/me/orders/{order_id}/accept."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from server.live.context import ctx
from server.platform.wire import json_response
from server.web.http import ApiError, read_json
from server.web.rooms import own_room
from server.web.shop import product_from_body

routes = web.RouteTableDef()


async def _own_giveaway(request: web.Request) -> dict[str, Any]:
    _, room = await own_room(request)
    record = await ctx(request).giveaways.record(request.match_info["giveaway_id"])
    if record is None or record["room_id"] != room.room_id:
        raise ApiError(404, "not_found", "no such giveaway in this room")
    return record


@routes.post("/api/rooms/{room_id}/giveaways")
async def open_giveaway(request: web.Request) -> web.Response:
    host, room = await own_room(request)
    app = ctx(request)
    body = await read_json(request, app.config.http.max_json_bytes)
    product = await product_from_body(request, host, body)
    return json_response(await app.giveaways.create(room.room_id, product, body), status=201)


@routes.get("/api/rooms/{room_id}/giveaways")
async def list_giveaways(request: web.Request) -> web.Response:
    """The room's latest 50 giveaways, newest first, each with its candidates counted."""
    _, room = await own_room(request)
    app = ctx(request)
    out = []
    for gid in await app.giveaways.of_room(room.room_id):
        record = await app.giveaways.record(gid)
        if record is not None:  # the candidate list is read one giveaway at a time
            record["candidate_count"] = len(record.pop("candidates"))
            out.append(record)
    return json_response({"giveaways": out})


@routes.get("/api/rooms/{room_id}/giveaways/{giveaway_id}")
async def get_giveaway(request: web.Request) -> web.Response:
    return json_response(await _own_giveaway(request))


@routes.post("/api/rooms/{room_id}/giveaways/{giveaway_id}/draw")
async def draw_giveaway(request: web.Request) -> web.Response:
    """Draw now: among viewers present who watched at least min_watch_s, or the keyword's
    entrants."""
    record = await _own_giveaway(request)
    app = ctx(request)
    watchers = []
    if record["mode"] == "watch":
        watchers = await app.presence.eligible(record["room_id"], record["min_watch_s"])
    return json_response(await app.giveaways.draw(record["giveaway_id"], watchers))
