"""Rooms API: a host creates, lists, renames and deletes its own rooms."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, TypeVar

from aiohttp import web

from server.accounts.store import TITLE_MAX, Host, Room
from server.live.context import AppContext, ctx
from server.live.node import room_is_live
from server.live.show import live_session
from server.platform.text import TextError, clean_text
from server.platform.wire import json_response
from server.web.http import ApiError, bearer_token, read_json

log = logging.getLogger("stallcast.rooms")

routes = web.RouteTableDef()

Owned = TypeVar("Owned", bound=Mapping[str, Any])  # a record that names its host_id


async def current_host(request: web.Request) -> Host:
    host = await ctx(request).store.host_for_token(bearer_token(request))
    if host is None:
        raise ApiError(401, "unauthorized", "unknown host token",
                       headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    return host


def owned(record: Owned | None, owner: str | None, what: str) -> Owned:
    """``record`` if it exists (404) and ``owner`` holds it (403); ``owner`` None is an
    operator, who may read every host's."""
    if record is None:
        raise ApiError(404, "not_found", f"no such {what}")
    if owner is not None and record["host_id"] != owner:
        raise ApiError(403, "forbidden", f"this {what} belongs to another host")
    return record


async def own_room(request: web.Request) -> tuple[Host, Room]:
    host = await current_host(request)
    room = await ctx(request).store.get_room(request.match_info["room_id"])
    if room is None:
        raise ApiError(404, "not_found", "no such room")
    if room.host_id != host.host_id:
        raise ApiError(403, "forbidden", "this room belongs to another host")
    return host, room


def base_url(request: web.Request) -> str:
    configured = ctx(request).config.http.public_url.rstrip("/")
    return configured or f"{request.scheme}://{request.host}"


def room_view(app: AppContext, room: Room, base: str) -> dict[str, Any]:
    router = app.sfu.routers.get(room.room_id)
    return {
        "room_id": room.room_id,
        "title": room.title,
        "stream_key": room.stream_key,
        "whip_url": f"{base}/whip/{room.room_id}",
        "whep_url": f"{base}/whep/{room.room_id}",
        "watch_url": f"{base}/watch/{room.room_id}",
        "studio_url": f"{base}/studio/{room.room_id}",
        "live": bool(router and router.live),
        "viewers": router.audience if router else 0,
        "created_at": room.created_at,
        "record": room.record,
        "next_show_at": room.next_show_at,
    }


def parse_title(body: dict[str, Any]) -> str:
    try:
        return clean_text(body.get("title"), "title", TITLE_MAX)
    except TextError as exc:
        raise ApiError(400, "bad_request", str(exc)) from None


@routes.post("/api/rooms")
async def create_room(request: web.Request) -> web.Response:
    host = await current_host(request)
    app = ctx(request)
    body = await read_json(request, app.config.http.max_json_bytes)
    room = await app.store.create_room(host.host_id, parse_title(body))
    view = room_view(app, room, base_url(request))
    return json_response(view, status=201, headers={"Location": f"/api/rooms/{room.room_id}"})


@routes.get("/api/rooms")
async def list_rooms(request: web.Request) -> web.Response:
    host = await current_host(request)
    app = ctx(request)
    base = base_url(request)
    rooms = await app.store.rooms_of(host.host_id)
    return json_response({"rooms": [room_view(app, r, base) for r in rooms]})


@routes.get("/api/rooms/{room_id}")
async def get_room(request: web.Request) -> web.Response:
    """The room, and its live ``session`` (null when none) wherever its host publishes:
    a second device of the host's sees the broadcast is on, and how it is doing."""
    _, room = await own_room(request)
    app = ctx(request)
    view = room_view(app, room, base_url(request))
    view["session"] = await live_session(app, room.room_id)
    view["live"] = view["live"] or view["session"] is not None
    return json_response(view)


@routes.patch("/api/rooms/{room_id}")
async def update_room(request: web.Request) -> web.Response:
    _, room = await own_room(request)
    app = ctx(request)
    body = await read_json(request, app.config.http.max_json_bytes)
    changes: dict[str, Any] = {}
    if "title" in body:
        changes["title"] = parse_title(body)
    if "record" in body:
        if not isinstance(body["record"], bool):
            raise ApiError(400, "bad_request", "record must be true or false")
        changes["record"] = body["record"]
    if not changes or set(body) - {"title", "record"}:
        raise ApiError(400, "bad_request", "send title and/or record, nothing else")
    room = await app.store.update_room(room, **changes)
    return json_response(room_view(app, room, base_url(request)))


@routes.post("/api/rooms/{room_id}/stream-key")
async def rotate_stream_key(request: web.Request) -> web.Response:
    """A leaked key is replaced at once. The broadcast already live carries on (its encoder
    can still end it with the key it started with) unless the host sends
    ``{"disconnect": true}``: then the publisher on this node is ended too."""
    _, room = await own_room(request)
    app = ctx(request)
    disconnect = False
    if request.can_read_body:
        body = await read_json(request, app.config.http.max_json_bytes)
        disconnect = body.get("disconnect", False)
        if set(body) - {"disconnect"} or not isinstance(disconnect, bool):
            raise ApiError(400, "bad_request", "send nothing or {\"disconnect\": true|false}")
    room = await app.store.rotate_stream_key(room)
    router = app.sfu.routers.get(room.room_id)
    producer = router.producer if router is not None else None
    if disconnect and producer is not None:
        await app.sfu.end_session(producer.session_id)
    log.info("stream key rotated", extra={"room_id": room.room_id,
                                          "disconnected": disconnect and producer is not None})
    return json_response(room_view(app, room, base_url(request)))


@routes.delete("/api/rooms/{room_id}")
async def delete_room(request: web.Request) -> web.Response:
    _, room = await own_room(request)
    app = ctx(request)
    await app.sfu.close_room(room.room_id)
    await app.store.delete_room(room)
    return web.Response(status=204)


@routes.get("/api/rooms/{room_id}/public")
async def public_room(request: web.Request) -> web.Response:
    """What a viewer's page may know: title and whether the host is live (on any node; the
    show's state is in the room snapshot)."""
    app = ctx(request)
    room = await app.store.get_room(request.match_info["room_id"])
    if room is None:
        raise ApiError(404, "not_found", "no such room")
    return json_response({"room_id": room.room_id, "title": room.title,
                          "live": await room_is_live(app, room.room_id)})
