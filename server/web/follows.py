"""Follows and reminders over HTTP: a viewer follows hosts and polls its reminders (every
page does, cheaply: the token is checked in memory and the inbox is one HGETALL); a host
sees its followers and, per show, how many came back from a reminder."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from server.live.context import ctx
from server.platform.wire import json_response
from server.web.buyers import current_viewer, optional_viewer
from server.web.http import ApiError, read_json
from server.web.rooms import current_host
from server.web.shows import audience

routes = web.RouteTableDef()

SEEN_MAX = 50  # reminder ids one request may mark seen


async def _host_id(request: web.Request) -> str:
    host_id = request.match_info["host_id"]
    if len(host_id) > 64 or not (await ctx(request).store.host_names([host_id])):
        raise ApiError(404, "not_found", "no such host")
    return host_id


async def _set_follow(request: web.Request, on: bool) -> web.Response:
    viewer_id = current_viewer(request)
    host_id = await _host_id(request)
    follows = audience(request).follows
    await (follows.follow if on else follows.unfollow)(viewer_id, host_id)
    count = (await follows.followers_count([host_id]))[host_id]
    return json_response({"host_id": host_id, "following": on, "followers": count})


@routes.post("/api/hosts/{host_id}/follow")
async def follow(request: web.Request) -> web.Response:
    return await _set_follow(request, True)


@routes.delete("/api/hosts/{host_id}/follow")
async def unfollow(request: web.Request) -> web.Response:
    return await _set_follow(request, False)


@routes.get("/api/rooms/{room_id}/host")
async def room_host(request: web.Request) -> web.Response:
    """Public: who hosts the room, its followers count, and (with a viewer token) whether
    this viewer follows it: the watch page's follow button."""
    room = await ctx(request).store.get_room(request.match_info["room_id"])
    if room is None:
        raise ApiError(404, "not_found", "no such room")
    viewer_id = optional_viewer(request)
    follows = audience(request).follows
    names = await ctx(request).store.host_names([room.host_id])
    body: dict[str, Any] = {
        "host_id": room.host_id, "name": names.get(room.host_id, ""),
        "followers": (await follows.followers_count([room.host_id]))[room.host_id]}
    if viewer_id is not None:
        body["following"] = await follows.follows(viewer_id, room.host_id)
    return json_response(body)


@routes.get("/api/me/follows")
async def my_follows(request: web.Request) -> web.Response:
    viewer_id = current_viewer(request)
    found = await audience(request).follows.following(viewer_id)
    names = await ctx(request).store.host_names([h for h, _ in found])
    return json_response({"follows": [{"host_id": h, "name": names.get(h, ""), "since": t}
                                      for h, t in found]})


@routes.get("/api/me/reminders")
async def my_reminders(request: web.Request) -> web.Response:
    """The reminders the viewer's pages have not shown yet (polled every ~15 s)."""
    viewer_id = current_viewer(request)
    found = await audience(request).reminders.pending(viewer_id)
    return json_response({"reminders": found}, headers={"Cache-Control": "no-store"})


@routes.post("/api/me/reminders/seen")
async def reminders_seen(request: web.Request) -> web.Response:
    """A page showed these reminders: no page shows them again."""
    viewer_id = current_viewer(request)
    body: dict[str, Any] = await read_json(request, ctx(request).config.http.max_json_bytes)
    ids = body.get("ids")
    if (set(body) != {"ids"} or not isinstance(ids, list) or len(ids) > SEEN_MAX
            or not all(isinstance(i, str) and 0 < len(i) <= 100 for i in ids)):
        raise ApiError(400, "bad_request",
                       f"send {{\"ids\": [reminder ids]}}, at most {SEEN_MAX}")
    removed = await audience(request).reminders.seen(viewer_id, ids)
    return json_response({"removed": removed})


@routes.get("/api/host/audience")
async def host_audience(request: web.Request) -> web.Response:
    """The host's followers count and its shows with how many were reminded and how many
    came to the watch page from a reminder."""
    host = await current_host(request)
    made = audience(request)
    followers = (await made.follows.followers_count([host.host_id]))[host.host_id]
    shows = await made.shows.of_host(host.host_id)
    stats = await made.reminders.stats([s.show_id for s in shows])
    now = time.time()
    return json_response({"host_id": host.host_id, "followers": followers, "shows": [
        {**show.view(now), **stats[show.show_id]} for show in shows]})
