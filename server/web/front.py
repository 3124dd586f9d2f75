"""The front door's API: which shows are live and which are coming, for anyone to see, and
the host's announcement of a room's next show."""

from __future__ import annotations

import math
import time
import weakref
from typing import Any

from aiohttp import web

from server.accounts.shows import Show, nearest
from server.accounts.store import Room
from server.live.context import AppContext, ctx
from server.live.node import room_is_live
from server.live.reminders import AUDIENCE, Audience
from server.ops.reports import SessionReports
from server.platform.wire import json_response
from server.web.http import ApiError, read_json
from server.web.ops import REPORTS_KEY
from server.web.rooms import base_url, own_room, room_view

routes = web.RouteTableDef()

SHOWS_MAX = 50  # each of live and upcoming
SCHEDULE_MAX_S = 365 * 86400
# A show that has not begun by its time stays "upcoming" (the host is late) this long.
LATE_GRACE_S = 3600
# Anyone may ask, so the listing is kept a moment per node: one entry, whatever Host a
# client names (only the links are built per request), so rotating Host headers cannot
# make every request list the shows again.
CACHE_S = 2.0
CACHED_LISTINGS = 200  # channels' listings kept per node
_cache: weakref.WeakKeyDictionary[
    web.Application, dict[str, tuple[float, dict[str, Any]]]] = weakref.WeakKeyDictionary()


FOLLOW_WEIGHT = 0.1  # live shows rank by viewers + this much per follower of the host


def _show(room: Room, host_name: str, thumb: str, *, live: bool, viewers: int,
          starts_at: float | None, followers: int = 0,
          show: Show | None = None) -> dict[str, Any]:
    return {"room_id": room.room_id, "title": show.title if show else room.title,
            "host_name": host_name, "host_id": room.host_id, "live": live,
            "viewers": viewers, "starts_at": starts_at,
            "thumb": (show.cover if show else "") or thumb, "followers": followers,
            "show_id": show.show_id if show else None,
            "category": show.category if show else ""}


def _linked(listing: dict[str, Any], base: str) -> dict[str, Any]:
    def link(show: dict[str, Any]) -> dict[str, Any]:
        page = f"{base}/shows/{show['show_id']}" if show["show_id"] else None
        return {**show, "watch_url": f"{base}/watch/{show['room_id']}", "show_url": page}

    return {kind: [link(show) for show in shows] for kind, shows in listing.items()}


async def _thumbs(app: AppContext, room_ids: list[str]) -> dict[str, str]:
    """The pinned product's thumbnail (or its picture) of each room that pins one."""
    pinned: dict[str, Any] = await app.commerce.pinned_products(room_ids)
    return {room_id: str(p.get("thumb") or p.get("image") or "")
            for room_id, p in pinned.items()}


async def _live(app: AppContext, reports: SessionReports | None) -> list[tuple[Room, int, float]]:
    """Rooms live now on any node: (room, viewers, session start). Viewers come from the
    router when the room is live here, else from the sampler's latest figures."""
    ids = await app.sessions.live_ids()
    sessions = await app.sessions.get_many(ids)
    started: dict[str, float] = {}
    for session in sessions:
        if session is not None and session.get("status") == "live":
            started.setdefault(session["room_id"], float(session["started_at"]))
    room_ids = [r for r in started if await room_is_live(app, r)]
    remote: dict[str, int] = {}
    if reports is not None and any(r not in app.sfu.routers for r in room_ids):
        for entry in await reports.live():
            remote[entry["room_id"]] = int(entry["figures"].get("viewers", 0))
    out = []
    for room in await app.store.rooms(room_ids):
        if room is None:
            continue
        router = app.sfu.routers.get(room.room_id)
        viewers = router.audience if router is not None else remote.get(room.room_id, 0)
        out.append((room, viewers, started[room.room_id]))
    return out


async def _current(made: Audience, room_ids: list[str], now: float) -> dict[str, Show]:
    """The scheduled show each live room is broadcasting, where it has one."""
    out: dict[str, Show] = {}
    for room_id in room_ids:
        found = nearest(await made.shows.of_room(room_id), now)
        if found is not None:
            out[room_id] = found[0]
    return out


async def list_shows(request: web.Request, category: str = "") -> dict[str, Any]:
    """Live shows (ranked by viewers and the host's followers) and then upcoming ones, in
    one channel or all, without their links (``_linked`` adds them)."""
    app = ctx(request)
    made = request.app[AUDIENCE]
    now = time.time()
    live = await _live(app, request.app.get(REPORTS_KEY))
    current = await _current(made, [room.room_id for room, _, _ in live], now)
    if category:
        live = [x for x in live if x[0].room_id in current
                and current[x[0].room_id].category == category]
    live_ids = {room.room_id for room, _, _ in live}
    scheduled = [(show, at) for show, at in await made.shows.upcoming(
        category, SHOWS_MAX + len(live_ids)) if show.room_id not in live_ids]
    legacy = [] if category else [
        (room, at) for room, at in await app.store.upcoming(now - LATE_GRACE_S,
                                                           SHOWS_MAX + len(live_ids))
        if room.room_id not in live_ids]
    show_rooms = {r.room_id: r for r in await app.store.rooms(
        [s.room_id for s, _ in scheduled]) if r is not None}
    coming: list[tuple[Room, float, Show | None]] = [
        (show_rooms[s.room_id], at, s) for s, at in scheduled if s.room_id in show_rooms]
    coming += [(room, at, None) for room, at in legacy]
    coming = sorted(coming, key=lambda x: x[1])[:SHOWS_MAX]
    rooms = [room for room, _, _ in live] + [room for room, _, _ in coming]
    followers = await made.follows.followers_count(sorted({r.host_id for r in rooms}))
    live.sort(key=lambda x: (-(x[1] + FOLLOW_WEIGHT * followers[x[0].host_id]), x[2]))
    live = live[:SHOWS_MAX]
    names = await app.store.host_names([r.host_id for r in rooms])
    thumbs = await _thumbs(app, [r.room_id for r in rooms])

    def extra(room: Room) -> tuple[str, str]:
        return names.get(room.host_id, ""), thumbs.get(room.room_id, "")

    return {
        "live": [_show(room, *extra(room), live=True, viewers=viewers, starts_at=start,
                       followers=followers[room.host_id], show=current.get(room.room_id))
                 for room, viewers, start in live],
        "upcoming": [_show(room, *extra(room), live=False, viewers=0, starts_at=at,
                           followers=followers[room.host_id], show=show)
                     for room, at, show in coming],
    }


async def listing(request: web.Request, category: str = "") -> dict[str, Any]:
    """``list_shows`` with links, made at most once per CACHE_S per node and channel."""
    cached = _cache.setdefault(request.app, {})
    hit = cached.get(category)
    now = time.monotonic()
    if hit is None or hit[0] < now:
        if len(cached) > CACHED_LISTINGS:
            cached.clear()
        hit = (now + CACHE_S, await list_shows(request, category))
        cached[category] = hit
    return _linked(hit[1], base_url(request))


def forget_listing(app: web.Application) -> None:
    """A schedule changed here: list again on the next request."""
    _cache.pop(app, None)


@routes.get("/api/shows")
async def shows(request: web.Request) -> web.Response:
    """Live shows (ranked by viewers and follows) and upcoming ones (soonest first), public."""
    return json_response(await listing(request),
                         headers={"Cache-Control": f"public, max-age={int(CACHE_S)}"})


def _starts_at(body: dict[str, Any]) -> float:
    value = body.get("starts_at")
    if set(body) != {"starts_at"}:
        raise ApiError(400, "bad_request", "send {\"starts_at\": unix seconds}, nothing else")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(
            value):
        raise ApiError(400, "bad_request", "starts_at must be a unix time in seconds")
    now = time.time()
    if not now < value < now + SCHEDULE_MAX_S:
        raise ApiError(400, "bad_request", "starts_at must be in the future, within a year")
    return float(value)


@routes.put("/api/rooms/{room_id}/schedule")
async def schedule(request: web.Request) -> web.Response:
    """Announce the room's next show: the front door lists it as upcoming."""
    _, room = await own_room(request)
    app = ctx(request)
    starts_at = _starts_at(await read_json(request, app.config.http.max_json_bytes))
    try:
        room = await app.store.schedule_show(room, starts_at)
    except KeyError:
        raise ApiError(404, "not_found", "no such room") from None
    forget_listing(request.app)
    return json_response(room_view(app, room, base_url(request)))


@routes.delete("/api/rooms/{room_id}/schedule")
async def unschedule(request: web.Request) -> web.Response:
    _, room = await own_room(request)
    await ctx(request).store.clear_schedule(room)
    forget_listing(request.app)
    return web.Response(status=204)


def front_paths() -> dict[str, Any]:
    """This module's routes in the OpenAPI document (server/web/openapi.py)."""
    room_id = {"name": "room_id", "in": "path", "required": True, "schema": {"type": "string"}}
    room = {"application/json": {"schema": {"$ref": "#/components/schemas/Room"}}}

    def err(desc: str) -> dict[str, Any]:
        return {"description": desc, "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/Error"}}}}

    show = {"type": "object", "properties": {
        "room_id": {"type": "string"}, "title": {"type": "string"},
        "host_name": {"type": "string"}, "live": {"type": "boolean"},
        "viewers": {"type": "integer"},
        "starts_at": {"type": "number", "nullable": True,
                      "description": "live: when the session began; upcoming: when it is "
                                     "scheduled to"},
        "watch_url": {"type": "string"},
        "thumb": {"type": "string", "description": "the show's cover, else the pinned "
                                                   "product's picture, or \"\""},
        "host_id": {"type": "string"}, "followers": {"type": "integer"},
        "show_id": {"type": "string", "nullable": True,
                    "description": "the scheduled show (POST /api/shows), if any"},
        "show_url": {"type": "string", "nullable": True},
        "category": {"type": "string", "description": "its channel's slug, or \"\""}}}
    shows_schema = {"type": "object", "properties": {
        "live": {"type": "array", "items": show}, "upcoming": {"type": "array", "items": show}}}
    owner = {"401": err("no or bad token"), "403": err("another host's room"),
             "404": err("no room")}
    return {
        "/api/shows": {"get": {
            "summary": "Public: live shows (by viewers + 0.1 per follower) and upcoming "
                       "ones (soonest first), at most 50 each",
            "responses": {"200": {"description": "shows", "content": {
                "application/json": {"schema": shows_schema}}}}}},
        "/api/rooms/{room_id}/schedule": {
            "parameters": [room_id],
            "put": {
                "summary": "Announce the room's next show (listed as upcoming)",
                "security": [{"hostToken": []}],
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"type": "object", "required": ["starts_at"], "properties": {
                        "starts_at": {"type": "number",
                                      "description": "unix seconds, future, < 1 year"}}}}}},
                "responses": {"200": {"description": "room with next_show_at",
                                      "content": room},
                              "400": err("bad starts_at or JSON"), **owner}},
            "delete": {
                "summary": "Take the announcement back", "security": [{"hostToken": []}],
                "responses": {"204": {"description": "no show scheduled"}, **owner}},
        },
    }
