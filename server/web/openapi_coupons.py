"""OpenAPI for coupons (server/web/coupons.py): push, list and end (the host's), claim and
the viewer's own claims; the buy's ``coupon_id`` and the order's ``coupon_id``, ``discount``
and ``ship_by`` are described with the buy and the Order schema."""

from __future__ import annotations

from typing import Any

from server.web.openapi_commerce import HOST, VIEWER, _err, _json, _op

ROOM = {"name": "room_id", "in": "path", "required": True, "schema": {"type": "string"}}
COUPON = {"name": "coupon_id", "in": "path", "required": True, "schema": {"type": "string"}}
OWN = {"401": _err("no or bad host token"), "403": _err("another host's room or coupon"),
       "404": _err("no such room or coupon")}

PUSH = {"type": "object", "required": ["kind", "value", "quota"], "properties": {
    "kind": {"type": "string", "enum": ["amount", "percent"]},
    "value": {"type": "integer", "description": "minor units off (amount) or 1-100 percent "
              "off the goods (never the shipping fee, never below 0; rounds half up)"},
    "currency": {"type": "string", "description": "ISO 4217; needed with an amount or a "
                 "minimum order, which then hold only for products in it"},
    "min_order": {"type": "integer", "description": "minor units of goods, 0 for none"},
    "quota": {"type": "integer", "description": "claims in all (coupons.max_quota at most); "
              "one per buyer"},
    "valid_hours": {"type": "integer", "description": "0 (default): valid for this show, "
                    "which must be live; else for N hours (coupons.max_hours at most)"}}}

VIEW = {"type": "object", "properties": {
    "coupon_id": {"type": "string"}, "room_id": {"type": "string"},
    "kind": {"type": "string"}, "value": {"type": "integer"},
    "currency": {"type": "string"}, "min_order": {"type": "integer"},
    "quota": {"type": "integer"}, "claimed": {"type": "integer"},
    "used": {"type": "integer"}, "left": {"type": "integer"},
    "scope": {"type": "string", "enum": ["show", "hours"]},
    "active": {"type": "boolean"}, "expires_at": {"type": "number"},
    "created_at": {"type": "number"}}}


def _coupon_json(desc: str) -> dict[str, Any]:
    return {"description": desc, "content": {"application/json": {"schema": VIEW}}}


def coupon_paths() -> dict[str, Any]:
    push = _op("Push a coupon to the room's viewers (event coupon_pushed)", HOST, {
        "201": _coupon_json("the coupon"), "400": _err("bad body"),
        "409": _err("a show coupon while the room is not live"),
        "413": _err("body too large"), "415": _err("not JSON"),
        "429": _err("coupons.max_active_per_room active already (code quota), or "
                     "coupons.max_pushes_per_day pushed in 24 h (rate_limited, Retry-After)"),
        **OWN})
    push["requestBody"] = {"required": True, "content": {"application/json": {
        "schema": PUSH}}}
    claim_errors = {"400": _err("bad coupon id"),
                    "401": _err("no or bad viewer token, or one merged into an account "
                                "(merged)"),
                    "404": _err("no such coupon in this room"),
                    "409": _err("ended or expired (coupon_ended), or every claim taken "
                                "(coupon_gone)")}
    return {
        "/api/rooms/{room_id}/coupons": {
            "parameters": [ROOM], "post": push,
            "get": _op("The room's coupons, ended ones too, with claims and uses", HOST,
                       {"200": _json("coupons"), **OWN}),
        },
        "/api/rooms/{room_id}/coupons/{coupon_id}/end": {
            "parameters": [ROOM, COUPON],
            "post": _op("End a coupon now (event coupon_ended): no more claims or uses",
                        HOST, {"200": _coupon_json("the coupon, ended"), **OWN}),
        },
        "/api/rooms/{room_id}/coupons/{coupon_id}/claim": {
            "parameters": [ROOM, COUPON],
            "post": _op("Claim a coupon (one per buyer; never more than the quota). Also "
                        "over the data channel: claim_coupon", VIEWER, {
                            "201": _json("coupon_id, left, already false, used"),
                            "200": _json("the claim held already (already true)"),
                            **claim_errors}),
        },
        "/api/rooms/{room_id}/coupons/mine": {
            "parameters": [ROOM],
            "get": _op("The viewer's claims in the room, each with used", VIEWER, {
                "200": _json("coupons"), "401": _err("no or bad viewer token")}),
        },
    }


def add_coupon_paths(doc: dict[str, Any]) -> None:
    """Add the coupon routes to ``doc`` and the buy's ``coupon_id`` to its body."""
    doc["paths"].update(coupon_paths())
    body = doc["components"]["schemas"].get("BuyInput")
    if isinstance(body, dict) and isinstance(body.get("properties"), dict):
        body["properties"]["coupon_id"] = {
            "type": "string", "description": "a coupon the buyer claimed: its discount is "
            "taken off (409 coupon_unclaimed, coupon_used, coupon_ended, coupon_invalid or "
            "coupon_minimum when it cannot apply)"}
    reports = doc["paths"].get("/api/ops/reports", {}).get("get")
    if isinstance(reports, dict):
        reports["description"] = (
            "With `delivery`: {overdue, orders (the oldest 100 ids), complete, by_host "
            "(operators only)}: orders past their ship-by time (the product's ship_by_hours) "
            "and not shipped, the caller's own (a host) or every host's (an operator).")
    order = doc["components"]["schemas"].get("Order")
    if isinstance(order, dict) and isinstance(order.get("properties"), dict):
        order["properties"].update({
            "coupon_id": {"type": "string", "description": "the coupon applied, \"\" for none"},
            "discount": {"type": "integer", "description": "what it took off, minor units"},
            "ship_by": {"type": "number", "description": "the product's delivery promise: "
                        "ship before this UNIX time (absent: none promised)"}})
