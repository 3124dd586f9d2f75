"""OpenAPI for the audience and live-show routes: nicknames, host chat, the pinned message,
mutes, the keyword filter, the room's live session and the WHIP takeover."""

from __future__ import annotations

from typing import Any

from server.web.openapi_commerce import HOST, VIEWER, _err, _json, _op

ROOM = [{"name": "room_id", "in": "path", "required": True, "schema": {"type": "string"}}]
OWN = {"401": _err("no or bad host token"), "403": _err("another host's room"),
       "404": _err("no room")}

SESSION = {"type": "object", "nullable": True, "description": "the live session, null when "
           "the host is not live (GET /api/rooms/{room_id} only)", "properties": {
               "session_id": {"type": "string"}, "started_at": {"type": "number"},
               "codec": {"type": "string", "nullable": True},
               "width": {"type": "integer"}, "height": {"type": "integer"},
               "fps": {"type": "number", "nullable": True},
               "bitrate_bps": {"type": "integer", "nullable": True},
               "viewers": {"type": "integer"}}}


def _with_body(op: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    op["requestBody"] = {"required": True, "content": {"application/json": {"schema": schema}}}
    return op


def audience_paths() -> dict[str, Any]:
    words = {"type": "object", "required": ["words"], "properties": {"words": {
        "type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 40},
        "description": "at most commerce.chat_filter_max_words"}}}
    return {
        "/api/me": {
            "put": _with_body(_op("Choose the viewer's nickname (shown in chat)", VIEWER, {
                "200": _json("viewer_id and nickname"), "400": _err("bad nickname"),
                "401": _err("no or bad viewer token")}), {
                    "type": "object", "required": ["nickname"], "properties": {
                        "nickname": {"type": "string", "minLength": 1, "maxLength": 24}}}),
        },
        "/api/rooms/{room_id}/chat/pin": {
            "parameters": ROOM,
            "put": _with_body(_op("Pin a recent message, or a new host note (event "
                                  "chat_pinned)", HOST, {
                "200": _json("the pinned message"), "400": _err("bad body"), **OWN}), {
                    "type": "object", "properties": {"message_id": {"type": "string"},
                                                     "text": {"type": "string"}}}),
            "delete": _op("Unpin (event chat_unpinned)", HOST,
                          {"204": {"description": "unpinned"}, **OWN}),
        },
        "/api/rooms/{room_id}/chat/filter": {
            "parameters": ROOM,
            "get": _op("The room's filtered words", HOST, {"200": _json("words"), **OWN}),
            "put": _with_body(_op("Replace the filtered words: chat holding one (case and "
                                  "width folded, NFKC) is refused with code filtered", HOST, {
                "200": _json("words as kept"), "400": _err("too many, too long, not text"),
                **OWN}), words),
        },
        "/api/rooms/{room_id}/mutes": {
            "get": _op("Muted viewers (until null: until unmuted)", HOST,
                       {"200": _json("mutes"), **OWN}),
        },
        "/api/rooms/{room_id}/mutes/{viewer_id}": {
            "parameters": [*ROOM, {"name": "viewer_id", "in": "path", "required": True,
                                   "schema": {"type": "string"}}],
            "delete": _op("Unmute: lifts the identity, its phone and its addresses (event "
                          "viewer_unmuted)", HOST, {"204": {"description": "not muted now"},
                                                    "400": _err("not a viewer id"), **OWN}),
        },
    }


def add_audience_paths(doc: dict[str, Any]) -> None:
    """Merge into ``doc``: new methods join paths documented elsewhere."""
    paths = doc["paths"]
    for path, item in audience_paths().items():
        paths.setdefault(path, {}).update(item)
    chat = paths.get("/api/rooms/{room_id}/chat", {}).get("post")
    if chat is not None:
        chat["summary"] = ("Send a chat message; with the room's host token, the host's "
                           "(role host, no budget)")
        chat["security"] = [*VIEWER, *HOST]
        chat["responses"]["400"] = _err("bad text, or filtered (code filtered)")
    whip = paths.get("/whip/{room_id}", {}).get("post")
    if whip is not None:
        whip["parameters"] = [{"name": "takeover", "in": "query", "required": False,
                               "schema": {"type": "string", "enum": ["1"]},
                               "description": "end the live publisher and publish instead; "
                                              "the session continues"}]
        whip["responses"]["409"] = _err("already_live: the room has a publisher")
    room = doc["components"]["schemas"].get("Room")
    if room is not None:
        room["properties"]["session"] = SESSION
