"""Live auctions over HTTP: the host starts, watches, ends an auction and offers the lot to
the runner-up; viewers read the room's auction and bid (the data channel's ``bid`` does
the same, server/live/channel.py); a winner accepts its prize order (auctions and
giveaways alike)."""

from __future__ import annotations

import math
from typing import Any

from aiohttp import web

from server.commerce.prizes import accept_prize, prize_view
from server.commerce.rules import contact_input
from server.live.context import AppContext, ctx
from server.platform.wire import json_response
from server.web.buyers import current_viewer, optional_viewer
from server.web.http import ApiError, read_json
from server.web.rooms import own_room
from server.web.shop import product_from_body

routes = web.RouteTableDef()


async def _body(request: web.Request) -> dict[str, Any]:
    return await read_json(request, ctx(request).config.http.max_json_bytes)


async def bidder_name(app: AppContext, viewer_id: str) -> str:
    """The nickname bids show: the viewer's chat name, or a short stand-in."""
    return await app.chat.nickname(viewer_id) or f"Viewer {viewer_id[-4:]}"


async def _own_auction(request: web.Request) -> tuple[str, dict[str, Any]]:
    _, room = await own_room(request)
    aid = request.match_info["auction_id"]
    view = await ctx(request).auctions.host_view(aid)
    if view is None or view["room_id"] != room.room_id:
        raise ApiError(404, "not_found", "no such auction in this room")
    return aid, view


@routes.post("/api/rooms/{room_id}/auctions")
async def start_auction(request: web.Request) -> web.Response:
    host, room = await own_room(request)
    body = await _body(request)
    product = await product_from_body(request, host, body)
    view = await ctx(request).auctions.start(room.room_id, product, body)
    return json_response(view, status=201)


@routes.get("/api/rooms/{room_id}/auction")
async def room_auction(request: web.Request) -> web.Response:
    """The room's latest auction; with a viewer token, ``you`` holds the viewer's own
    offer (its reserved order) when the lot is offered to it."""
    app = ctx(request)
    viewer_id = optional_viewer(request)
    room = await app.store.get_room(request.match_info["room_id"])
    if room is None:
        raise ApiError(404, "not_found", "no such room")
    auction = await app.auctions.current(room.room_id)
    you = None
    if auction is not None and viewer_id is not None:
        order = await app.auctions.offer_of(auction["auction_id"], viewer_id)
        you = {"order": prize_view(app.commerce, order)} if order is not None else None
    return json_response({"auction": auction, "you": you})


@routes.get("/api/rooms/{room_id}/auctions/{auction_id}")
async def get_auction(request: web.Request) -> web.Response:
    _, view = await _own_auction(request)
    return json_response(view)


@routes.get("/api/rooms/{room_id}/auctions/{auction_id}/bids")
async def list_bids(request: web.Request) -> web.Response:
    """Accepted bids, oldest first: ``start`` (0-based) and ``limit`` (at most 1000)."""
    aid, _ = await _own_auction(request)
    try:
        start = int(request.query.get("start", "0"))
        limit = int(request.query.get("limit", "1000"))
    except ValueError:
        raise ApiError(400, "invalid", "start and limit must be integers") from None
    if start < 0 or not 1 <= limit <= 1000:
        raise ApiError(400, "invalid", "start must be >= 0 and limit 1-1000")
    return json_response({"bids": await ctx(request).auctions.bids(aid, start, limit)})


@routes.post("/api/rooms/{room_id}/auctions/{auction_id}/bids")
async def place_bid(request: web.Request) -> web.Response:
    viewer_id = current_viewer(request)
    body = await _body(request)
    app = ctx(request)
    verdict = await app.auctions.http_bids.take(viewer_id)
    if not verdict.allowed:  # as the data channel's per-viewer limit, across nodes
        raise ApiError(429, "rate_limited", "too many bids: wait a moment",
                       headers={"Retry-After": str(max(1, math.ceil(verdict.retry_after)))})
    bid = await app.auctions.bid(request.match_info["room_id"][:64], viewer_id,
                                 await bidder_name(app, viewer_id),
                                 {**body, "auction_id": request.match_info["auction_id"]})
    return json_response(bid, status=201)


@routes.post("/api/rooms/{room_id}/auctions/{auction_id}/end")
async def end_auction(request: web.Request) -> web.Response:
    """End a running auction now; it closes (and its winner is told) within a second."""
    aid, _ = await _own_auction(request)
    if not await ctx(request).auctions.end_now(aid):
        raise ApiError(409, "conflict", "the auction is not running")
    view = await ctx(request).auctions.host_view(aid)
    return json_response(view)


@routes.post("/api/rooms/{room_id}/auctions/{auction_id}/offer")
async def offer_runner_up(request: web.Request) -> web.Response:
    """Offer the lot to the next highest bidder, once the current offer's order lapsed."""
    aid, _ = await _own_auction(request)
    return json_response(await ctx(request).auctions.offer_next(aid))


@routes.post("/api/me/orders/{order_id}/accept")
async def accept(request: web.Request) -> web.Response:
    """A won auction lot or giveaway prize: say yes, with where to send it. A free prize
    or cash on delivery is confirmed; a priced one paid by transfer stays reserved (with
    ``payment``: how to pay before its time limit) until the host confirms payment."""
    viewer_id = current_viewer(request)
    body = await _body(request)
    app = ctx(request)
    order = await app.commerce.get_order(request.match_info["order_id"])
    if order is None or order["buyer_id"] != viewer_id:
        raise ApiError(404, "not_found", "no such order")
    contact = contact_input(body.get("contact"))
    accepted = await accept_prize(app.commerce, viewer_id, order, contact)
    return json_response(prize_view(app.commerce, accepted))
