"""OpenAPI for live auctions, giveaways and prize orders (server/web/auctions.py,
server/web/giveaways.py)."""

from __future__ import annotations

from typing import Any

from server.web.openapi_commerce import HOST, VIEWER, _err, _json, _op

ROOM = {"name": "room_id", "in": "path", "required": True, "schema": {"type": "string"}}
AUCTION = {"name": "auction_id", "in": "path", "required": True, "schema": {"type": "string"}}
GIVEAWAY = {"name": "giveaway_id", "in": "path", "required": True,
            "schema": {"type": "string"}}
OWN = {"401": _err("no or bad host token"), "403": _err("another host's room"),
       "404": _err("no such room, auction or giveaway")}
INT = {"type": "integer"}


def _body(op: dict[str, Any], props: dict[str, Any], required: list[str]) -> dict[str, Any]:
    op["requestBody"] = {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": required, "properties": props}}}}
    return op


def auction_paths() -> dict[str, Any]:
    start = {"product_id": {"type": "string"}, "start_price": INT, "increment": INT,
             "duration_s": INT, "extend_s": {**INT, "description": "anti-sniping: a bid in "
                                             "the last extend_s seconds ends the auction "
                                             "extend_s after it"},
             "confirm_s": {**INT, "description": "the winner's time to accept its order"}}
    contact = {"contact": {"type": "object", "properties": {
        "name": {"type": "string"}, "phone": {"type": "string"},
        "address": {"type": "string"}}}}
    giveaway = {"product_id": {"type": "string"}, "winners": INT,
                "mode": {"type": "string", "enum": ["watch", "keyword"]},
                "min_watch_s": INT, "keyword": {"type": "string", "maxLength": 40}}
    return {
        "/api/rooms/{room_id}/auctions": {
            "parameters": [ROOM],
            "post": _body(_op("Start an auction of one unit of a product (event "
                              "auction_started)", HOST, {
                "201": _json("the auction"), "400": _err("bad field"),
                "409": _err("an auction is running, or the product is sold out/archived"),
                **OWN}), start, ["product_id", "start_price", "increment", "duration_s"]),
        },
        "/api/rooms/{room_id}/auction": {
            "parameters": [ROOM],
            "get": _op("The room's latest auction; with a viewer token `you` holds the "
                       "viewer's own won order", None, {
                "200": _json("auction (or null) and you"),
                "401": _err("bad viewer token"), "404": _err("no room")}),
        },
        "/api/rooms/{room_id}/auctions/{auction_id}": {
            "parameters": [ROOM, AUCTION],
            "get": _op("The auction with bidder ids, leaders and the offer's order", HOST,
                       {"200": _json("the auction"), **OWN}),
        },
        "/api/rooms/{room_id}/auctions/{auction_id}/bids": {
            "parameters": [ROOM, AUCTION],
            "get": _op("Accepted bids, oldest first (query start, limit <= 1000)", HOST, {
                "200": _json("bids"), "400": _err("bad start or limit"), **OWN}),
            "post": _body(_op("Bid: the first reaches start_price, later ones beat the "
                              "highest by the increment; the highest bidder cannot outbid "
                              "itself", VIEWER, {
                "201": _json("the accepted bid"),
                "400": _err("bad amount, or too_low (the message names the least valid)"),
                "401": _err("no or bad viewer token, or merged (the identity signed in "
                            "to an account)"), "404": _err("no such auction"),
                "409": _err("ended, already highest, or the bid cap reached"),
                "429": _err("more than 5 bids at once or 2 a second (Retry-After)")}),
                {"amount": INT}, ["amount"]),
        },
        "/api/rooms/{room_id}/auctions/{auction_id}/end": {
            "parameters": [ROOM, AUCTION],
            "post": _op("End the auction now (it closes within a second)", HOST, {
                "200": _json("the auction"), "409": _err("not running"), **OWN}),
        },
        "/api/rooms/{room_id}/auctions/{auction_id}/offer": {
            "parameters": [ROOM, AUCTION],
            "post": _op("Offer the lot to the next highest distinct bidder once the current "
                        "offer's order lapsed (event auction_offered)", HOST, {
                "200": _json("the auction"),
                "409": _err("not closed, or the current order has not lapsed"), **OWN}),
        },
        "/api/me/orders/{order_id}/accept": {
            "parameters": [{"name": "order_id", "in": "path", "required": True,
                            "schema": {"type": "string"}}],
            "post": _body(_op("Accept a won auction lot or giveaway prize with the contact: "
                              "a free prize or cash on delivery is confirmed; a priced one "
                              "paid by transfer stays reserved, with `payment`, until the "
                              "host confirms payment within its time limit", VIEWER, {
                "200": _json("the order"), "400": _err("bad contact"),
                "401": _err("no or bad viewer token"), "404": _err("no such prize order"),
                "409": _err("the order is no longer reserved")}), contact, ["contact"]),
        },
        "/api/rooms/{room_id}/giveaways": {
            "parameters": [ROOM],
            "post": _body(_op("Open a giveaway (event giveaway_started); keyword mode "
                              "enters each viewer who writes the keyword in chat", HOST, {
                "201": _json("the giveaway"), "400": _err("bad field"), **OWN}),
                giveaway, ["product_id", "winners"]),
            "get": _op("The room's latest giveaways", HOST, {"200": _json("giveaways"),
                                                           **OWN}),
        },
        "/api/rooms/{room_id}/giveaways/{giveaway_id}": {
            "parameters": [ROOM, GIVEAWAY],
            "get": _op("The giveaway's record: seed, sorted candidates, winners, orders "
                       "(giveaways.draw(candidates, seed, winners) gives the same winners)",
                       HOST, {"200": _json("the giveaway"), **OWN}),
        },
        "/api/rooms/{room_id}/giveaways/{giveaway_id}/draw": {
            "parameters": [ROOM, GIVEAWAY],
            "post": _op("Draw the winners; each gets a zero-price order to accept (events "
                        "giveaway_drawn, giveaway_won)", HOST, {
                "200": _json("the drawn giveaway"), "409": _err("already drawn"), **OWN}),
        },
    }


def add_auction_paths(doc: dict[str, Any]) -> None:
    doc["paths"].update(auction_paths())
