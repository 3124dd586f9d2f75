"""The host's chat moderation over HTTP: delete a message, mute and unmute viewers, pin a
message, keep a keyword filter. Every route needs the room's host token."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from server.audience.moderation import check_viewer_id
from server.audience.rules import chat_text
from server.live.context import ctx
from server.platform.wire import json_response
from server.web.http import ApiError, read_json
from server.web.rooms import own_room

routes = web.RouteTableDef()

MESSAGE_ID_MAX = 40


async def _body(request: web.Request) -> dict[str, Any]:
    return await read_json(request, ctx(request).config.http.max_json_bytes)


# Registered before DELETE .../chat/{message_id}, which would otherwise take "pin" for an id.
@routes.put("/api/rooms/{room_id}/chat/pin")
async def pin_message(request: web.Request) -> web.Response:
    """Pin one of the room's recent messages (``message_id``) or a new host note (``text``)."""
    host, room = await own_room(request)
    body = await _body(request)
    app = ctx(request)
    if set(body) not in ({"message_id"}, {"text"}):
        raise ApiError(400, "invalid", "send {\"message_id\"} or {\"text\"}")
    if "text" in body:
        message = app.chat.host_message(host.name, chat_text(body["text"]))
    else:
        wanted = body["message_id"]
        if not isinstance(wanted, str) or len(wanted) > MESSAGE_ID_MAX:
            raise ApiError(400, "invalid", "message_id must be a message id")
        found = [m for m in await app.chat.history(room.room_id)
                 if m.get("message_id") == wanted]
        if not found:
            raise ApiError(404, "not_found", "no such message in the room's recent chat")
        message = found[0]
    await app.chat.moderation.pin(room.room_id, message)
    return json_response({"message": message})


@routes.delete("/api/rooms/{room_id}/chat/pin")
async def unpin_message(request: web.Request) -> web.Response:
    _, room = await own_room(request)
    await ctx(request).chat.moderation.unpin(room.room_id)
    return web.Response(status=204)


@routes.get("/api/rooms/{room_id}/chat/filter")
async def get_filter(request: web.Request) -> web.Response:
    _, room = await own_room(request)
    return json_response({"words": await ctx(request).chat.moderation.filter_words(
        room.room_id)})


@routes.put("/api/rooms/{room_id}/chat/filter")
async def put_filter(request: web.Request) -> web.Response:
    """Replace the room's filtered words; a viewer's message holding one (case and width
    folded) is refused with ``filtered``."""
    _, room = await own_room(request)
    body = await _body(request)
    if set(body) != {"words"}:
        raise ApiError(400, "invalid", "send {\"words\": [...]}")
    app = ctx(request)
    words = await app.chat.moderation.set_filter(
        room.room_id, body["words"], app.config.commerce.chat_filter_max_words)
    return json_response({"words": words})


@routes.delete("/api/rooms/{room_id}/chat/{message_id}")
async def delete_message(request: web.Request) -> web.Response:
    _, room = await own_room(request)
    message_id = request.match_info["message_id"]
    if len(message_id) > MESSAGE_ID_MAX:
        raise ApiError(404, "not_found", "no such message")
    chat = ctx(request).chat
    await chat.delete(room.room_id, message_id)
    await chat.moderation.unpin(room.room_id, message_id)  # a deleted message is not kept up
    return web.Response(status=204)


@routes.post("/api/rooms/{room_id}/mutes")
async def mute_viewer(request: web.Request) -> web.Response:
    _, room = await own_room(request)
    viewer_id = check_viewer_id((await _body(request)).get("viewer_id"))
    await ctx(request).chat.mute(room.room_id, viewer_id)
    return json_response({"muted": viewer_id}, status=201)


@routes.get("/api/rooms/{room_id}/mutes")
async def list_mutes(request: web.Request) -> web.Response:
    _, room = await own_room(request)
    return json_response({"mutes": await ctx(request).chat.moderation.mutes(room.room_id)})


@routes.delete("/api/rooms/{room_id}/mutes/{viewer_id}")
async def unmute_viewer(request: web.Request) -> web.Response:
    """Lift the mute and everything it bound (phone, addresses); 204 whether or not the
    viewer was muted."""
    _, room = await own_room(request)
    viewer_id = check_viewer_id(request.match_info["viewer_id"])
    await ctx(request).chat.moderation.unmute(room.room_id, viewer_id)
    return web.Response(status=204)
