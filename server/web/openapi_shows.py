"""OpenAPI for follows, scheduled shows, reminders and channels (server/web/follows.py and
server/web/shows.py)."""

from __future__ import annotations

from typing import Any

from server.web.openapi_commerce import HOST, VIEWER, _err, _json, _op

OPERATOR: list[dict[str, list[str]]] = [{"operatorToken": []}]
SHOW_ID = [{"name": "show_id", "in": "path", "required": True, "schema": {"type": "string"}}]
HOST_ID = [{"name": "host_id", "in": "path", "required": True, "schema": {"type": "string"}}]
SLUG = [{"name": "slug", "in": "path", "required": True, "schema": {"type": "string"}}]
VIEWER_ERR = {"401": _err("no or bad viewer token")}
SHOW_ERR = {"401": _err("no or bad host token"), "403": _err("another host's show"),
            "404": _err("no such show")}
OPS_ERR = {"401": _err("no or unknown token"), "403": _err("not an operator")}

SHOW_FIELDS: dict[str, Any] = {
    "title": {"type": "string", "minLength": 1, "maxLength": 120},
    "cover": {"type": "string", "maxLength": 500,
              "description": "an /uploads/ image of the host (POST /api/uploads) or an "
                             "http(s) URL; \"\" for none"},
    "starts_at": {"type": "number", "description": "unix seconds, future, < 1 year"},
    "repeat": {"type": "string", "enum": ["none", "daily", "weekly"]},
    "category": {"type": "string", "description": "a channel slug, \"\" for none"},
    "product_ids": {"type": "array", "maxItems": 10, "items": {"type": "string"},
                    "description": "the host's products to feature"}}
SHOW = {"type": "object", "properties": {
    **SHOW_FIELDS, "show_id": {"type": "string"}, "host_id": {"type": "string"},
    "room_id": {"type": "string"},
    "next_at": {"type": "number", "nullable": True,
                "description": "the next occurrence (repeats roll forward); null when past"},
    "host_name": {"type": "string"}, "followers": {"type": "integer"},
    "live": {"type": "boolean"}, "watch_url": {"type": "string"},
    "show_url": {"type": "string"}, "calendar_url": {"type": "string"},
    "products": {"type": "array", "items": {"type": "object"}},
    "following": {"type": "boolean", "description": "with a viewer token only"},
    "asked": {"type": "boolean", "description": "with a viewer token only"}}}
CHANNEL_NAME = {"type": "string", "maxLength": 60}
CHANNEL: dict[str, Any] = {"type": "object", "properties": {
    "slug": {"type": "string", "pattern": "^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$"},
    "name": CHANNEL_NAME, "created_at": {"type": "number"}}}


def _body(schema: dict[str, Any], op: dict[str, Any]) -> dict[str, Any]:
    op["requestBody"] = {"required": True, "content": {"application/json": {"schema": schema}}}
    return op


def _schema(desc: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": desc, "content": {"application/json": {"schema": schema}}}


def shows_paths() -> dict[str, Any]:
    follow = _schema("following, and the host's followers count", {
        "type": "object", "properties": {"host_id": {"type": "string"},
                                         "following": {"type": "boolean"},
                                         "followers": {"type": "integer"}}})
    follow_err = {**VIEWER_ERR, "404": _err("no such host"),
                  "409": _err("follows per viewer reached (code limit)")}
    remind = {**VIEWER_ERR, "404": _err("no such show")}
    return {
        "/api/shows": {"post": _body(
            {"type": "object", "required": ["room_id", "title", "starts_at"],
             "properties": {"room_id": {"type": "string"}, **SHOW_FIELDS}},
            _op("Schedule a show in one of the host's rooms", HOST, {
                "201": _schema("the show", SHOW),
                "400": _err("bad field, unknown channel or product, or bad JSON"),
                "401": _err("no or bad host token"),
                "403": _err("another host's room, or its uploaded cover"),
                "404": _err("no such room"), "409": _err("shows per host reached"),
                "413": _err("body too large"), "415": _err("not JSON")}))},
        "/api/shows/{show_id}": {
            "parameters": SHOW_ID,
            "get": _op("Public: a scheduled show as its page shows it (following/asked "
                       "with a viewer token)", None, {
                           "200": _schema("the show", SHOW), "401": _err("bad viewer token"),
                           "404": _err("no such show")}),
            "patch": _body({"type": "object", "properties": SHOW_FIELDS}, _op(
                "Change a scheduled show", HOST, {
                    "200": _schema("the show", SHOW), "400": _err("bad field or JSON"),
                    "413": _err("body too large"), "415": _err("not JSON"), **SHOW_ERR})),
            "delete": _op("Remove a scheduled show", HOST, {
                "204": {"description": "removed"}, **SHOW_ERR})},
        "/api/shows/{show_id}/calendar.ics": {"parameters": SHOW_ID, "get": _op(
            "Public: the show as an iCalendar event (RFC 5545; RRULE when it repeats)", None,
            {"200": {"description": "text/calendar", "content": {
                "text/calendar": {"schema": {"type": "string"}}}},
             "404": _err("no such show")})},
        "/api/shows/{show_id}/remind": {
            "parameters": SHOW_ID,
            "post": _op("Remind me when this show goes live", VIEWER, {
                "200": _json("asked: true"), "409": _err("too many asks (code limit)"),
                **remind}),
            "delete": _op("No reminder for this show", VIEWER, {
                "200": _json("asked: false"), **remind})},
        "/api/shows/{show_id}/arrivals": {"parameters": SHOW_ID, "post": _op(
            "The watch page was opened from this show's reminder (counted once per viewer)",
            VIEWER, {"200": _json("counted: whether this call counted it"), **remind})},
        "/api/hosts/{host_id}/follow": {
            "parameters": HOST_ID,
            "post": _op("Follow a host", VIEWER, {"200": follow, **follow_err}),
            "delete": _op("Unfollow a host", VIEWER, {"200": follow, **follow_err})},
        "/api/rooms/{room_id}/host": {"parameters": [{
            "name": "room_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "get": _op("Public: the room's host, its followers count and (viewer token) "
                       "whether this viewer follows it", None, {
                           "200": _json("host_id, name, followers, following"),
                           "401": _err("bad viewer token"), "404": _err("no such room")})},
        "/api/me/follows": {"get": _op("The hosts the viewer follows, newest first", VIEWER, {
            "200": _json("follows: [{host_id, name, since}]"), **VIEWER_ERR})},
        "/api/me/reminders": {"get": _op(
            "The viewer's reminders no page has shown yet (pages poll it every ~15 s)",
            VIEWER, {"200": _json("reminders: [{id, room_id, show_id, title, host_name, "
                                  "watch_url, at}]"), **VIEWER_ERR})},
        "/api/me/reminders/seen": {"post": _body(
            {"type": "object", "required": ["ids"], "properties": {"ids": {
                "type": "array", "maxItems": 50, "items": {"type": "string"}}}},
            _op("These reminders were shown: no page shows them again", VIEWER, {
                "200": _json("removed: how many"), "400": _err("bad ids or JSON"),
                "413": _err("body too large"), "415": _err("not JSON"), **VIEWER_ERR}))},
        "/api/host/audience": {"get": _op(
            "The host's followers count and, per show, viewers reminded and viewers who "
            "came from a reminder", HOST, {
                "200": _json("followers, shows: [show + reminded, from_reminders]"),
                "401": _err("no or bad host token")})},
        "/api/channels": {
            "get": _op("Public: every channel", None, {"200": _schema("channels", {
                "type": "object", "properties": {"channels": {"type": "array",
                                                              "items": CHANNEL}}})}),
            "post": _body({"type": "object", "required": ["slug", "name"],
                           "properties": CHANNEL["properties"]}, _op(
                "Create a channel", OPERATOR, {
                    "201": _schema("the channel", CHANNEL), "400": _err("bad slug or name"),
                    "409": _err("slug taken, or channels cap reached"),
                    "413": _err("body too large"), "415": _err("not JSON"), **OPS_ERR}))},
        "/api/channels/{slug}": {
            "parameters": SLUG,
            "get": _op("Public: the channel, its live shows (by viewers and follows), then "
                       "its upcoming ones", None, {
                           "200": _json("channel, live, upcoming (as GET /api/shows)"),
                           "404": _err("no such channel")}),
            "patch": _body({"type": "object", "required": ["name"], "properties": {
                "name": CHANNEL_NAME}}, _op("Rename a channel", OPERATOR, {
                    "200": _schema("the channel", CHANNEL), "400": _err("bad name"),
                    "404": _err("no such channel"), "413": _err("body too large"),
                    "415": _err("not JSON"), **OPS_ERR})),
            "delete": _op("Remove a channel (its shows keep their slug, listed nowhere)",
                          OPERATOR, {"204": {"description": "removed"},
                                     "400": _err("bad slug"),
                                     "404": _err("no such channel"), **OPS_ERR})},
    }


def add_shows_paths(doc: dict[str, Any]) -> None:
    """Merge into ``doc``: POST /api/shows joins the front door's GET."""
    for path, item in shows_paths().items():
        doc["paths"].setdefault(path, {}).update(item)
