"""OpenAPI paths for the commerce API (products, cards, sales, orders, chat, viewers)."""

from __future__ import annotations

from typing import Any

HOST: list[dict[str, list[str]]] = [{"hostToken": []}]
VIEWER: list[dict[str, list[str]]] = [{"viewerToken": []}]


def _err(desc: str) -> dict[str, Any]:
    return {"description": desc, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/Error"}}}}


def _limited(desc: str) -> dict[str, Any]:
    return {**_err(desc), "headers": {"Retry-After": {
        "description": "seconds until the viewer may send again",
        "schema": {"type": "integer"}}}}


def _json(desc: str, ref: str | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"$ref": f"#/components/schemas/{ref}"} if ref else {
        "type": "object"}
    return {"description": desc, "content": {"application/json": {"schema": schema}}}


def _body(ref: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{ref}"}}}}


def _op(summary: str, security: list[Any] | None, responses: dict[str, Any],
        body: str | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": responses}
    if security is not None:
        op["security"] = security
    if body:
        op["requestBody"] = _body(body)
    return op


def _p(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def _q(name: str, desc: str, kind: str = "string") -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": desc,
            "schema": {"type": kind}}


ORDER_FILTERS = [_q("room_id", "only this room's orders"),
                 _q("status", "reserved, confirmed, shipped, delivered or cancelled")]
AUTH = {"401": _err("no or bad token")}
OWN = {**AUTH, "403": _err("belongs to another host"), "404": _err("not found")}
BAD = {"400": _err("invalid input"), "413": _err("body too large"),
       "415": _err("not JSON")}


def upload_paths() -> dict[str, Any]:
    image = {"description": "the photo as taken or picked", "schema": {
        "type": "string", "format": "binary"}}
    return {
        "/api/uploads": {
            "post": {**_op("Upload a product photo (JPEG, PNG or WebP, at most "
                           "uploads.max_image_bytes): stored upright, without metadata, as a "
                           "card image and a square thumbnail", HOST, {
                               "201": _json("the images' URLs and the card's size", "Upload"),
                               **AUTH, "400": _err("bad_image: not a sound image of that type"),
                               "413": _err("too_large"),
                               "415": _err("unsupported_media_type"),
                               "429": _err("quota: the host keeps uploads.images_per_host")}),
                     "requestBody": {"required": True, "content": {
                         kind: image for kind in ("image/jpeg", "image/png", "image/webp")}}},
        },
        "/api/uploads/{image_id}": {
            "parameters": [_p("image_id")],
            "delete": _op("Delete an uploaded photo (its place in the quota is freed)", HOST,
                          {"204": {"description": "deleted"}, **OWN}),
        },
        "/uploads/{name}": {
            "parameters": [_p("name")],
            "get": _op("An uploaded photo's card or thumbnail (public, cached for good)", None, {
                "200": {"description": "JPEG", "content": {"image/jpeg": {
                    "schema": {"type": "string", "format": "binary"}}}},
                "404": _err("no such image")}),
        },
    }


def commerce_paths() -> dict[str, Any]:
    room = [_p("room_id")]
    return {
        "/api/products": {
            "post": _op("Create a product, with 2-10 variants if it comes in several (each "
                        "its own product_id, price and stock)", HOST, {
                            "201": _json("product", "Product"), **AUTH, **BAD,
                            "403": _err("image or thumb is another host's upload")},
                        "ProductInput"),
            "get": {**_op("The host's products (variants inside their product)", HOST,
                          {"200": _json("products"), "400": _err("bad status"), **AUTH}),
                    "parameters": [_q("status", "active (default) or archived")]},
        },
        "/api/products/{product_id}": {
            "parameters": [_p("product_id")],
            "get": _op("One product", HOST, {"200": _json("product", "Product"), **OWN}),
            "patch": _op("Change a product (fields given are replaced)", HOST,
                         {"200": _json("product", "Product"), **OWN, **BAD}, "ProductInput"),
            "delete": _op("Delete a product (and its variants)", HOST,
                          {"204": {"description": "deleted"}, **OWN}),
        },
        **{
            f"/api/products/{{product_id}}/{action}": {
                "parameters": [_p("product_id")],
                "post": _op(summary, HOST, {"200": _json("product", "Product"), **OWN,
                                            "400": _err("a variant: archive its product")}),
            }
            for action, summary in [
                ("archive", "Take a product (and its variants) off sale and off every room: "
                            "its pinned card goes, its open sales end"),
                ("restore", "Put an archived product back on sale"),
            ]
        },
        **upload_paths(),
        "/api/rooms/{room_id}/products": {
            "parameters": room,
            "post": _op("Attach a product to the room", HOST,
                        {"201": _json("attached"), **OWN, **BAD}, "ProductRef"),
            "get": _op("Products attached to the room", HOST, {"200": _json("products"), **OWN}),
        },
        "/api/rooms/{room_id}/products/{product_id}": {
            "parameters": [_p("room_id"), _p("product_id")],
            "delete": _op("Detach a product", HOST, {"204": {"description": "detached"}, **OWN}),
        },
        "/api/rooms/{room_id}/pin": {
            "parameters": room,
            "put": _op("Pin a product card for every viewer", HOST,
                       {"200": _json("pinned"), **OWN, **BAD}, "ProductRef"),
            "delete": _op("Unpin the card", HOST, {"204": {"description": "unpinned"}, **OWN}),
        },
        "/api/rooms/{room_id}/sales": {
            "parameters": room,
            "post": _op("Start (or schedule) a flash sale; its quantity leaves product stock",
                        HOST, {"201": _json("sale", "Sale"), **OWN, **BAD,
                               "409": _err("not enough stock")}, "SaleInput"),
            "get": _op("The room's sales", HOST, {"200": _json("sales"), **OWN}),
        },
        "/api/sales/{sale_id}/end": {
            "parameters": [_p("sale_id")],
            "post": _op("End a sale now; unsold quantity returns to stock", HOST,
                        {"200": _json("sale", "Sale"), **OWN}),
        },
        "/api/orders": {
            "parameters": [*ORDER_FILTERS, _q("limit", "orders per page, 1-500 (100)",
                                              "integer"),
                           _q("after", "the previous page's `next`: the page after it")],
            "get": _op("A page of the host's orders, newest first: {orders, next, total}. "
                       "status filters within the page", HOST,
                       {"200": _json("orders"), "400": _err("bad filter or cursor"), **OWN}),
        },
        "/api/orders.csv": {
            "parameters": ORDER_FILTERS,
            "get": _op("All the host's orders (or a room's) as CSV for the courier", HOST, {
                "200": {"description": "CSV", "content": {"text/csv": {
                    "schema": {"type": "string"}}}}, "400": _err("bad status"), **OWN}),
        },
        **{
            f"/api/orders/{{order_id}}/{action}": {
                "parameters": [_p("order_id")],
                "post": _op(summary, HOST, {"200": _json("order", "Order"), **OWN, **BAD,
                                            "409": _err("not allowed from its status")},
                            "Tracking" if action == "ship" else None),
            }
            for action, summary in [
                ("confirm", "Payment received: reserved -> confirmed"),
                ("ship", "Shipped with a tracking number"),
                ("deliver", "Delivered"),
                ("cancel", "Cancel; stock is returned"),
            ]
        },
        "/api/rooms/{room_id}/chat/{message_id}": {
            "parameters": [_p("room_id"), _p("message_id")],
            "delete": _op("Delete a chat message", HOST, {"204": {"description": "deleted"},
                                                          **OWN}),
        },
        "/api/rooms/{room_id}/mutes": {
            "parameters": room,
            "post": _op("Mute a viewer in this room", HOST, {"201": _json("muted"), **OWN, **BAD},
                        "ViewerRef"),
        },
        "/api/viewers": {
            "post": _op("Issue an anonymous viewer identity (signed token)", None,
                        {"201": _json("viewer id and token")}),
        },
        "/api/me": {
            "get": _op("The viewer, its remembered contact, nickname and account ({phone} "
                       "masked, since) or null when not signed in", VIEWER,
                       {"200": _json("viewer"), **AUTH}),
        },
        "/api/me/orders": {
            "get": _op("The viewer's own orders", VIEWER, {"200": _json("orders"), **AUTH}),
        },
        "/api/me/orders/{order_id}": {
            "parameters": [_p("order_id")],
            "get": _op("One of the viewer's orders", VIEWER,
                       {"200": _json("order", "Order"), **AUTH, "404": _err("not yours")}),
        },
        "/api/rooms/{room_id}/buy": {
            "parameters": room,
            "post": _op("Buy (same as the data channel's buy message)", VIEWER, {
                "201": _json("new order", "Order"), "200": _json("same order again", "Order"),
                **AUTH, **BAD, "404": _err("no room, sale or product"),
                "409": _err("sold out, ended, not started or over limit")}, "BuyInput"),
        },
        "/api/rooms/{room_id}/chat": {
            "parameters": room,
            "post": _op("Send a chat message", VIEWER, {
                "201": _json("message"), **AUTH, **BAD, "403": _err("muted"),
                "404": _err("no room"), "429": _limited("too many messages")}, "ChatInput"),
        },
        "/api/rooms/{room_id}/likes": {
            "parameters": room,
            "post": _op("Send likes", VIEWER, {"200": _json("total"), **AUTH, **BAD,
                                               "404": _err("no room"),
                                               "429": _limited("too many likes")}, "LikeInput"),
        },
        "/api/rooms/{room_id}/state": {
            "parameters": room,
            "get": _op("Room snapshot: seq, live, pinned card, sales, chat, likes", None,
                       {"200": _json("snapshot"), "404": _err("no room")}),
        },
    }


def class_paths() -> dict[str, Any]:
    cls = [_p("class_id")]
    return {
        "/api/sessions": {
            "get": _op("The host's recorded sessions", HOST, {"200": _json("sessions"), **AUTH}),
        },
        "/api/sessions/{session_id}": {
            "parameters": [_p("session_id")],
            "get": _op("One session with its packaging progress and commerce timeline", HOST,
                       {"200": _json("session"), **OWN}),
        },
        "/api/sessions/{session_id}/class": {
            "parameters": [_p("session_id")],
            "post": _op("Turn a finished session into a class", HOST, {
                "201": _json("class", "Class"), **OWN, **BAD,
                "409": _err("still recording, or failed")}, "ClassInput"),
        },
        "/api/classes": {
            "get": _op("Classes ready to watch", None, {"200": _json("classes")}),
        },
        "/api/classes/{class_id}": {
            "parameters": cls,
            "get": _op("One class", None, {"200": _json("class", "Class"),
                                           "404": _err("no class")}),
        },
        "/api/classes/{class_id}/buy": {
            "parameters": cls,
            "post": _op("Buy a class (order flow; access once confirmed)", VIEWER, {
                "201": _json("new order", "Order"), "200": _json("same order again", "Order"),
                **AUTH, **BAD, "404": _err("no class"), "409": _err("refused")}, "BuyInput"),
        },
        "/api/classes/{class_id}/play": {
            "parameters": cls,
            "get": _op("A signed playlist URL (whole class if bought, else the preview), the "
                       "timeline and the saved position", [{}, *VIEWER], {
                           "200": _json("playback"), "401": _err("tampered viewer token"),
                           "404": _err("no class"), "409": _err("not ready yet")}),
        },
        "/api/classes/{class_id}/position": {
            "parameters": cls,
            "put": _op("Save where the viewer stopped", VIEWER, {
                "200": _json("saved"), **AUTH, **BAD, "404": _err("no class")}, "Position"),
        },
        "/vod/{class_id}/{name}": {
            "parameters": [*cls, _p("name")],
            "get": _op("Playlist, segment (signed URL only) or poster", None, {
                "200": {"description": "file"}, "403": _err("missing, tampered or expired "
                                                             "signature"),
                "404": _err("no such file")}),
        },
    }


def ops_paths() -> dict[str, Any]:
    ops = [{"operatorToken": []}, *HOST]
    denied = {"401": _err("no or unknown token"), "403": _err("viewers see no figures")}
    return {
        "/api/ops/sessions": {
            "get": _op("Live sessions on every node with their latest figures (operators: "
                       "all; hosts: their own)", ops, {"200": _json("sessions"), **denied}),
        },
        "/api/ops/sessions/{session_id}": {
            "parameters": [_p("session_id")],
            "get": _op("One session's figures over its whole length, and its report once "
                       "ended", ops, {"200": _json("series and report"), **denied,
                                      "404": _err("no session")}),
        },
        "/api/ops/reports": {
            "get": _op("Reports of ended sessions, newest first", ops,
                       {"200": _json("reports"), **denied}),
        },
        "/metrics": {
            "get": _op("Prometheus text format (operator token unless metrics.require_auth "
                       "is 0)", [{"operatorToken": []}], {
                           "200": {"description": "metrics", "content": {"text/plain": {
                               "schema": {"type": "string"}}}}, **denied}),
        },
    }


def commerce_schemas() -> dict[str, Any]:
    s, i = {"type": "string"}, {"type": "integer"}
    return {
        "ProductInput": {"type": "object", "required": ["title", "currency"],
                         "description": "price and stock are required unless variants are "
                                        "given (each variant has its own)",
                         "properties": {"title": s, "description": s, "price": i,
                                        "currency": s, "image": s, "thumb": s, "stock": i,
                                        "per_buyer_limit": i, "shipping_fee": i,
                                        "variants": {"type": "array", "minItems": 2,
                                                     "maxItems": 10, "items": {
                                                         "$ref": "#/components/schemas/"
                                                                 "VariantInput"}},
                                        "label": s, "expected_stock": i}},
        "VariantInput": {"type": "object", "required": ["label", "price", "stock"],
                         "properties": {"label": s, "price": i, "stock": i,
                                        "per_buyer_limit": i}},
        "Product": {"type": "object", "properties": {
            "product_id": s, "host_id": s, "title": s, "description": s, "price": i,
            "currency": s, "stock": i, "image": s, "thumb": s, "per_buyer_limit": i,
            "shipping_fee": i, "status": {"type": "string",
                                          "enum": ["active", "archived"]},
            "parent_id": s, "variant_label": s,
            "variants": {"type": "array", "items": {"$ref": "#/components/schemas/Variant"}}}},
        "Variant": {"type": "object", "properties": {"product_id": s, "label": s, "price": i,
                                                     "stock": i, "per_buyer_limit": i}},
        "Upload": {"type": "object", "properties": {"image_id": s, "card": s, "thumb": s,
                                                    "width": i, "height": i}},
        "ProductRef": {"type": "object", "required": ["product_id"],
                       "properties": {"product_id": s}},
        "ViewerRef": {"type": "object", "required": ["viewer_id"],
                      "properties": {"viewer_id": s}},
        "SaleInput": {"type": "object",
                      "required": ["product_id", "price", "quantity", "duration"],
                      "properties": {"product_id": s, "price": i, "quantity": i,
                                     "duration": i, "start_in": i,
                                     "starts_at": {"type": "number"}, "per_buyer_limit": i}},
        "Sale": {"type": "object", "properties": {"sale_id": s, "remaining": i, "status": s,
                                                  "shipping_fee": i}},
        "Order": {"type": "object", "properties": {"order_id": s, "status": s, "quantity": i,
                                                   "unit_price": i, "currency": s,
                                                   "shipping_fee": i, "total": i}},
        "Tracking": {"type": "object", "required": ["tracking_number"],
                     "properties": {"tracking_number": s}},
        "BuyInput": {"type": "object", "required": ["idempotency_key"], "properties": {
            "sale_id": s, "product_id": s, "quantity": i, "idempotency_key": s,
            "retry": {"type": "boolean", "description": "true when the key was sent before "
                      "without an answer: never refused from a node's sold-out memory"},
            "contact": {"type": "object", "properties": {"name": s, "phone": s,
                                                         "address": s}}}},
        "ChatInput": {"type": "object", "required": ["text"],
                      "properties": {"text": s, "name": s}},
        "LikeInput": {"type": "object", "properties": {"count": i}},
        "ClassInput": {"type": "object", "required": ["price"], "properties": {
            "title": s, "description": s, "price": i, "currency": s, "preview_seconds": i}},
        "Class": {"type": "object", "properties": {"class_id": s, "title": s, "price": i,
                                                   "status": s, "preview_seconds": i}},
        "Position": {"type": "object", "required": ["seconds"],
                     "properties": {"seconds": {"type": "number"}}},
    }
