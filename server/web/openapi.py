"""The OpenAPI 3 description of the HTTP API, served at /api/openapi.json.

tests/cluster/test_openapi.py checks that every route the server registers is described here
and that the documented status codes are the ones the handlers answer with.
"""

from __future__ import annotations

from typing import Any

from server.web.front import front_paths
from server.web.openapi_account import account_paths
from server.web.openapi_auctions import add_auction_paths
from server.web.openapi_audience import add_audience_paths
from server.web.openapi_commerce import class_paths, commerce_paths, commerce_schemas, ops_paths
from server.web.openapi_coupons import add_coupon_paths
from server.web.openapi_shows import add_shows_paths

VERSION = "0.1.0"


def _err(desc: str) -> dict[str, Any]:
    return {"description": desc, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/Error"}}}}


def _sdp(desc: str) -> dict[str, Any]:
    return {"description": desc, "content": {"application/sdp": {"schema": {"type": "string"}}}}


ROOM_ID = {"name": "room_id", "in": "path", "required": True, "schema": {"type": "string"}}
SESSION_ID = {"name": "session_id", "in": "path", "required": True, "schema": {"type": "string"}}
HOST_AUTH: list[dict[str, list[str]]] = [{"hostToken": []}]
KEY_AUTH: list[dict[str, list[str]]] = [{"streamKey": []}]
ROOM_JSON = {"application/json": {"schema": {"$ref": "#/components/schemas/Room"}}}
TITLE_BODY = {"required": True, "content": {"application/json": {
    "schema": {"$ref": "#/components/schemas/RoomInput"}}}}
ANSWER_HEADERS = {
    "Location": {"schema": {"type": "string"}, "description": "session resource URL"},
    "Link": {"schema": {"type": "string"}, "description": "ICE servers (rel=ice-server)"},
}


def openapi_document() -> dict[str, Any]:
    doc = _core()
    doc["paths"].update(commerce_paths())
    doc["paths"].update(class_paths())
    doc["paths"].update(ops_paths())
    doc["paths"].update(front_paths())
    doc["paths"].update(account_paths())
    doc["components"]["schemas"].update(commerce_schemas())
    add_audience_paths(doc)
    add_auction_paths(doc)
    add_shows_paths(doc)
    add_coupon_paths(doc)
    doc["components"]["securitySchemes"]["operatorToken"] = {
        "type": "http", "scheme": "bearer", "description": "token from `stallcast operator "
        "create`"}
    doc["components"]["securitySchemes"]["viewerToken"] = {
        "type": "http", "scheme": "bearer", "description": "token from POST /api/viewers"}
    return doc


def _core() -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {"title": "Stallcast", "version": VERSION,
                 "description": "Live-commerce streaming: WHIP ingest, WHEP playback, rooms."},
        "paths": {
            "/healthz": {"get": {
                "summary": "Liveness: 200 only when Redis answers",
                "responses": {"200": {"description": "healthy"}, "503": _err("Redis down")},
            }},
            "/api/rooms": {
                "post": {
                    "summary": "Create a room", "security": HOST_AUTH, "requestBody": TITLE_BODY,
                    "responses": {
                        "201": {"description": "created", "content": ROOM_JSON},
                        "400": _err("bad title or JSON"), "401": _err("no or bad token"),
                        "413": _err("body too large"), "415": _err("not JSON"),
                    },
                },
                "get": {
                    "summary": "List the host's own rooms", "security": HOST_AUTH,
                    "responses": {
                        "200": {"description": "rooms", "content": {"application/json": {
                            "schema": {"type": "object", "properties": {"rooms": {
                                "type": "array",
                                "items": {"$ref": "#/components/schemas/Room"}}}}}}},
                        "401": _err("no or bad token"),
                    },
                },
            },
            "/api/rooms/{room_id}": {
                "parameters": [ROOM_ID],
                "get": {
                    "summary": "One of the host's rooms", "security": HOST_AUTH,
                    "responses": {"200": {"description": "room", "content": ROOM_JSON},
                                  "401": _err("no or bad token"),
                                  "403": _err("another host's room"), "404": _err("no room")},
                },
                "patch": {
                    "summary": "Rename a room or turn its recording on/off",
                    "security": HOST_AUTH, "requestBody": {"required": True, "content": {
                        "application/json": {"schema": {"type": "object", "properties": {
                            "title": {"type": "string"}, "record": {"type": "boolean"}}}}}},
                    "responses": {"200": {"description": "room", "content": ROOM_JSON},
                                  "400": _err("bad title"), "401": _err("no or bad token"),
                                  "403": _err("another host's room"), "404": _err("no room")},
                },
                "delete": {
                    "summary": "Delete a room (ends its sessions)", "security": HOST_AUTH,
                    "responses": {"204": {"description": "deleted"},
                                  "401": _err("no or bad token"),
                                  "403": _err("another host's room"), "404": _err("no room")},
                },
            },
            "/api/rooms/{room_id}/stream-key": {
                "parameters": [ROOM_ID],
                "post": {
                    "summary": "Rotate the stream key: the old one opens no new broadcast; the "
                               "live one carries on unless disconnect is true",
                    "security": HOST_AUTH, "requestBody": {"required": False, "content": {
                        "application/json": {"schema": {"type": "object", "properties": {
                            "disconnect": {"type": "boolean", "default": False}}}}}},
                    "responses": {"200": {"description": "room with its new stream_key",
                                          "content": ROOM_JSON},
                                  "400": _err("bad body"), "401": _err("no or bad token"),
                                  "403": _err("another host's room"), "404": _err("no room")},
                },
            },
            "/api/rooms/{room_id}/public": {
                "parameters": [ROOM_ID],
                "get": {
                    "summary": "Public facts about a room, for the watch page",
                    "responses": {"200": {"description": "title and live state"},
                                  "404": _err("no room")},
                },
            },
            "/whip/{room_id}": {
                "parameters": [ROOM_ID],
                "post": {
                    "summary": "WHIP: publish (RFC 9725)", "security": KEY_AUTH,
                    "requestBody": {"required": True, "content": {
                        "application/sdp": {"schema": {"type": "string"}}}},
                    "responses": {
                        "201": {**_sdp("SDP answer"), "headers": ANSWER_HEADERS},
                        "400": _err("bad SDP"), "401": _err("wrong or missing stream key"),
                        "404": _err("no room"), "409": _err("room already has a publisher"),
                        "413": _err("SDP too large"), "415": _err("not application/sdp"),
                    },
                },
                "options": {"summary": "CORS and Accept-Post",
                            "responses": {"204": {"description": "allowed"}}},
            },
            "/whip/{room_id}/{session_id}": {
                "parameters": [ROOM_ID, SESSION_ID],
                "delete": {"summary": "End the broadcast (the room's key, or the key this "
                                      "session started with)", "security": KEY_AUTH,
                           "responses": {"200": {"description": "ended"},
                                         "401": _err("wrong stream key"),
                                         "404": _err("no session")}},
                "patch": {"summary": "Trickle ICE (not supported)",
                          "responses": {"405": _err("not supported")}},
            },
            "/whep/{room_id}": {
                "parameters": [ROOM_ID],
                "post": {
                    "summary": "WHEP: watch (a viewer token, if sent, identifies the buyer)",
                    "security": [{}, {"viewerToken": []}],
                    "requestBody": {"required": True, "content": {
                        "application/sdp": {"schema": {"type": "string"}}}},
                    "responses": {
                        "201": {**_sdp("SDP answer"), "headers": ANSWER_HEADERS},
                        "400": _err("bad SDP"), "401": _err("tampered viewer token"),
                        "404": _err("no room"),
                        "413": _err("SDP too large"), "415": _err("not application/sdp"),
                    },
                },
                "options": {"summary": "CORS and Accept-Post",
                            "responses": {"204": {"description": "allowed"}}},
            },
            "/whep/{room_id}/{session_id}": {
                "parameters": [ROOM_ID, SESSION_ID],
                "delete": {"summary": "Stop watching",
                           "responses": {"200": {"description": "ended"},
                                         "404": _err("no session")}},
                "patch": {"summary": "Trickle ICE (not supported)",
                          "responses": {"405": _err("not supported")}},
            },
        },
        "components": {
            "securitySchemes": {
                "hostToken": {"type": "http", "scheme": "bearer",
                              "description": "token from `stallcast host create`"},
                "streamKey": {"type": "http", "scheme": "bearer",
                              "description": "the room's stream_key"},
            },
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {
                    "type": "object", "required": ["code", "message"],
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}},
                "RoomInput": {"type": "object", "required": ["title"], "properties": {
                    "title": {"type": "string", "minLength": 1, "maxLength": 200}}},
                "Room": {"type": "object", "required": [
                    "room_id", "title", "stream_key", "whip_url", "whep_url", "watch_url"],
                    "properties": {
                        "room_id": {"type": "string"}, "title": {"type": "string"},
                        "stream_key": {"type": "string"}, "whip_url": {"type": "string"},
                        "whep_url": {"type": "string"}, "watch_url": {"type": "string"},
                        "studio_url": {"type": "string"}, "live": {"type": "boolean"},
                        "viewers": {"type": "integer"}, "created_at": {"type": "number"},
                        "record": {"type": "boolean"},
                        "next_show_at": {"type": "number", "nullable": True}}},
            },
        },
    }
