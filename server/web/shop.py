"""The host's shop: products, cards, flash sales, orders, chat moderation."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from server.accounts.store import Host
from server.commerce.records import Order, Product
from server.commerce.rules import (
    STATUSES,
    order_kind,
    orders_csv,
    product_edit,
    product_input,
    tracking_number,
)
from server.commerce.service import order_view, sale_view
from server.commerce.store import PAGE_MAX
from server.live.context import ctx
from server.platform.wire import json_response
from server.web.http import ApiError, read_json
from server.web.rooms import current_host, own_room, owned

routes = web.RouteTableDef()


async def _body(request: web.Request) -> dict[str, Any]:
    return await read_json(request, ctx(request).config.http.max_json_bytes)


async def own_product(request: web.Request, host: Host, pid: str) -> Product:
    return owned(await ctx(request).commerce.get_product(pid), host.host_id, "product")


async def _product_from_body(request: web.Request, host: Host,
                             body: dict[str, Any]) -> Product:
    pid = body.get("product_id")
    if not isinstance(pid, str):
        raise ApiError(400, "invalid", "product_id must be a string")
    return await own_product(request, host, pid)


@routes.post("/api/products")
async def create_product(request: web.Request) -> web.Response:
    host = await current_host(request)
    data = product_input(await _body(request))
    product = await ctx(request).commerce.create_product(host.host_id, data)
    return json_response(product, status=201)


@routes.get("/api/products")
async def list_products(request: web.Request) -> web.Response:
    host = await current_host(request)
    return json_response(
        {"products": await ctx(request).commerce.products_of(host.host_id)})


@routes.get("/api/products/{product_id}")
async def get_product(request: web.Request) -> web.Response:
    host = await current_host(request)
    return json_response(await own_product(request, host, request.match_info["product_id"]))


@routes.patch("/api/products/{product_id}")
async def update_product(request: web.Request) -> web.Response:
    host = await current_host(request)
    product = await own_product(request, host, request.match_info["product_id"])
    # The body may arrive long after the product was read: nothing read above is
    # written back; the script writes only the fields named, atomically.
    edit = product_edit(await _body(request))
    app = ctx(request)
    # Rooms showing this card show the new price and stock at once.
    rooms = await app.store.rooms_of(host.host_id)
    updated = await app.commerce.update_product(product, edit, [r.room_id for r in rooms])
    return json_response(updated)


@routes.delete("/api/products/{product_id}")
async def delete_product(request: web.Request) -> web.Response:
    host = await current_host(request)
    product = await own_product(request, host, request.match_info["product_id"])
    await ctx(request).commerce.delete_product(product)
    return web.Response(status=204)


@routes.post("/api/rooms/{room_id}/products")
async def attach_product(request: web.Request) -> web.Response:
    host, room = await own_room(request)
    product = await _product_from_body(request, host, await _body(request))
    await ctx(request).commerce.attach(room.room_id, product)
    return json_response({"room_id": room.room_id, "product_id": product["product_id"]},
                             status=201)


@routes.get("/api/rooms/{room_id}/products")
async def room_products(request: web.Request) -> web.Response:
    _, room = await own_room(request)
    return json_response(
        {"products": await ctx(request).commerce.room_products(room.room_id)})


@routes.delete("/api/rooms/{room_id}/products/{product_id}")
async def detach_product(request: web.Request) -> web.Response:
    host, room = await own_room(request)
    product = await own_product(request, host, request.match_info["product_id"])
    await ctx(request).commerce.detach(room.room_id, product)
    return web.Response(status=204)


@routes.put("/api/rooms/{room_id}/pin")
async def pin(request: web.Request) -> web.Response:
    host, room = await own_room(request)
    product = await _product_from_body(request, host, await _body(request))
    await ctx(request).commerce.pin(room.room_id, product)
    return json_response({"pinned": product["product_id"]})


@routes.delete("/api/rooms/{room_id}/pin")
async def unpin(request: web.Request) -> web.Response:
    _, room = await own_room(request)
    await ctx(request).commerce.unpin(room.room_id)
    return web.Response(status=204)


@routes.post("/api/rooms/{room_id}/sales")
async def start_sale(request: web.Request) -> web.Response:
    host, room = await own_room(request)
    body = await _body(request)
    product = await _product_from_body(request, host, body)
    sale = await ctx(request).commerce.start_sale(room.room_id, product, body)
    return json_response(sale_view(sale), status=201)


@routes.get("/api/rooms/{room_id}/sales")
async def list_sales(request: web.Request) -> web.Response:
    _, room = await own_room(request)
    sales = await ctx(request).commerce.room_sales(room.room_id, active_only=False)
    return json_response({"sales": [sale_view(s) for s in sales]})


@routes.post("/api/sales/{sale_id}/end")
async def end_sale(request: web.Request) -> web.Response:
    host = await current_host(request)
    app = ctx(request)
    sale = owned(await app.commerce.get_sale(request.match_info["sale_id"]), host.host_id,
                 "sale")
    ended = await app.commerce.end_sale(sale)
    assert ended is not None
    return json_response(sale_view(ended))


# -- orders -----------------------------------------------------------------------------------
async def _order_index(request: web.Request) -> tuple[str, str | None]:
    """The index to read (the host's, or one of its rooms') and the status filter."""
    host = await current_host(request)
    status = request.query.get("status")
    if status is not None and status not in STATUSES:
        raise ApiError(400, "invalid", f"status must be one of {', '.join(STATUSES)}")
    room_id = request.query.get("room_id")
    commerce = ctx(request).commerce
    if room_id is None:
        return commerce.host_orders(host.host_id), status
    room = await ctx(request).store.get_room(room_id)
    index = commerce.room_orders(room_id)
    # A deleted room's orders still need shipping: its index says whose they are.
    owner = room.host_id if room is not None else (
        await commerce.index_owner(index) if len(room_id) <= 64 else None)
    if owner is None:
        raise ApiError(404, "not_found", "no such room")
    if owner != host.host_id:
        raise ApiError(403, "forbidden", "this room belongs to another host")
    return index, status


@routes.get("/api/orders")
async def list_orders(request: web.Request) -> web.Response:
    """A page of orders, newest first; ``after`` (the previous page's ``next``) goes on.
    ``status`` filters within the page, so a filtered page may hold fewer than ``limit``."""
    index, status = await _order_index(request)
    raw_limit = request.query.get("limit", "100")
    if not (raw_limit.isascii() and raw_limit.isdigit()) or not 1 <= int(raw_limit) <= PAGE_MAX:
        raise ApiError(400, "invalid", f"limit must be 1-{PAGE_MAX}")
    commerce = ctx(request).commerce
    try:
        orders, cursor = await commerce.order_page(index, int(raw_limit),
                                                   request.query.get("after", "")[:64])
    except KeyError:
        raise ApiError(400, "invalid", "after: no such order in this list") from None
    total = await commerce.order_count(index)
    return json_response({
        "orders": [order_view(o) for o in orders if status is None or o["status"] == status],
        "next": cursor, "total": total})


@routes.get("/api/orders.csv")
async def export_orders(request: web.Request) -> web.StreamResponse:
    import datetime

    index, status = await _order_index(request)
    # Streamed a page at a time: a host with 100k orders must not hold them all in memory
    # or stall the event loop (and the live streams on it) while one CSV is built.
    resp = web.StreamResponse(headers={
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": 'attachment; filename="orders.csv"'})
    await resp.prepare(request)
    header = True
    async for page in ctx(request).commerce.order_pages(index):
        # The courier's list: parcels only (a class has nothing to deliver).
        rows = [{**o, "created_at_iso": datetime.datetime.fromtimestamp(
                    o["created_at"], datetime.UTC).isoformat(timespec="seconds")}
                for o in page if (status is None or o["status"] == status)
                and order_kind(o) == "parcel"]
        await resp.write(orders_csv(rows, header=header).encode())
        header = False  # order_pages yields at least one page, empty or not
    await resp.write_eof()
    return resp


async def own_order(request: web.Request) -> Order:
    host = await current_host(request)
    return owned(await ctx(request).commerce.get_order(request.match_info["order_id"]),
                 host.host_id, "order")


async def _move(request: web.Request, new: str, **extra: str) -> web.Response:
    order = await own_order(request)
    updated = await ctx(request).commerce.set_status(order, new, **extra)
    return json_response(order_view(updated))


@routes.post("/api/orders/{order_id}/confirm")
async def confirm_order(request: web.Request) -> web.Response:
    return await _move(request, "confirmed")


@routes.post("/api/orders/{order_id}/ship")
async def ship_order(request: web.Request) -> web.Response:
    await own_order(request)
    body = await _body(request)
    tracking = tracking_number(body.get("tracking_number"))
    return await _move(request, "shipped", tracking_number=tracking)


@routes.post("/api/orders/{order_id}/deliver")
async def deliver_order(request: web.Request) -> web.Response:
    return await _move(request, "delivered")


@routes.post("/api/orders/{order_id}/cancel")
async def cancel_order(request: web.Request) -> web.Response:
    return await _move(request, "cancelled", reason="cancelled by the seller")


# -- chat moderation --------------------------------------------------------------------------
@routes.delete("/api/rooms/{room_id}/chat/{message_id}")
async def delete_message(request: web.Request) -> web.Response:
    _, room = await own_room(request)
    message_id = request.match_info["message_id"]
    if len(message_id) > 40:
        raise ApiError(404, "not_found", "no such message")
    await ctx(request).chat.delete(room.room_id, message_id)
    return web.Response(status=204)


@routes.post("/api/rooms/{room_id}/mutes")
async def mute_viewer(request: web.Request) -> web.Response:
    _, room = await own_room(request)
    viewer_id = (await _body(request)).get("viewer_id")
    if not isinstance(viewer_id, str) or not viewer_id.startswith("v_") or len(viewer_id) > 40:
        raise ApiError(400, "invalid", "viewer_id must be a viewer id (v_...)")
    await ctx(request).chat.mute(room.room_id, viewer_id)
    return json_response({"muted": viewer_id}, status=201)
