"""Coupons in a live room: the host pushes and ends them, viewers claim them (over HTTP
here, or ``claim_coupon`` on the data channel) and a buy names the claimed one
(``coupon_id``). The rules and scripts are server/commerce/coupons.py's."""

from __future__ import annotations

from aiohttp import web

from server.commerce.coupon_rules import coupon_input
from server.live.context import ctx
from server.platform.wire import json_response
from server.web.buyers import current_viewer
from server.web.http import read_json
from server.web.rooms import own_room, owned

routes = web.RouteTableDef()


@routes.post("/api/rooms/{room_id}/coupons")
async def push_coupon(request: web.Request) -> web.Response:
    """Push a coupon to the room's viewers (event ``coupon_pushed``)."""
    host, room = await own_room(request)
    app = ctx(request)
    body = await read_json(request, app.config.http.max_json_bytes)
    limits = app.config.coupons
    data = coupon_input(body, limits.max_quota, limits.max_hours)
    coupon = await app.commerce.coupons.push(room.room_id, host.host_id, data)
    return json_response(coupon, status=201)


@routes.get("/api/rooms/{room_id}/coupons")
async def room_coupons(request: web.Request) -> web.Response:
    """Every coupon the room lists, ended ones too, with claims and uses (the host's)."""
    _, room = await own_room(request)
    return json_response({"coupons": await ctx(request).commerce.coupons.of_room(
        room.room_id, active_only=False)})


@routes.post("/api/rooms/{room_id}/coupons/{coupon_id}/end")
async def end_coupon(request: web.Request) -> web.Response:
    """No more claims or uses (event ``coupon_ended``); claims made stay on record."""
    host, room = await own_room(request)
    coupons = ctx(request).commerce.coupons
    coupon = owned(await coupons.get(request.match_info["coupon_id"]), host.host_id, "coupon")
    if coupon["room_id"] != room.room_id:
        owned(None, None, "coupon")
    return json_response(await coupons.end(coupon))


@routes.post("/api/rooms/{room_id}/coupons/{coupon_id}/claim")
async def claim_coupon(request: web.Request) -> web.Response:
    """Claim one (at most one per buyer): 201 the first time, 200 for a claim held."""
    viewer_id = current_viewer(request)
    claim = await ctx(request).commerce.coupons.claim(
        request.match_info["room_id"], viewer_id, request.match_info["coupon_id"])
    return json_response(claim, status=200 if claim["already"] else 201)


@routes.get("/api/rooms/{room_id}/coupons/mine")
async def my_coupons(request: web.Request) -> web.Response:
    """The viewer's claims in the room (``used`` once an order applied it)."""
    viewer_id = current_viewer(request)
    return json_response({"coupons": await ctx(request).commerce.coupons.claims_of(
        request.match_info["room_id"][:64], viewer_id)})
