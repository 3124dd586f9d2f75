"""The host's shop: products, cards, flash sales, orders (chat moderation: moderation.py)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from server.accounts.store import Host
from server.commerce.records import Order, Product
from server.commerce.rules import (
    STATUSES,
    order_kind,
    orders_csv,
    product_input,
    tracking_number,
)
from server.commerce.store import PAGE_MAX
from server.commerce.views import order_view, sale_view
from server.live.context import ctx
from server.platform.wire import json_response
from server.web.http import ApiError, read_json
from server.web.rooms import current_host, own_room, owned

routes = web.RouteTableDef()


async def _body(request: web.Request) -> dict[str, Any]:
    return await read_json(request, ctx(request).config.http.max_json_bytes)


async def own_product(request: web.Request, host: Host, pid: str) -> Product:
    return owned(await ctx(request).commerce.get_product(pid), host.host_id, "product")


async def product_from_body(request: web.Request, host: Host,
                             body: dict[str, Any]) -> Product:
    pid = body.get("product_id")
    if not isinstance(pid, str):
        raise ApiError(400, "invalid", "product_id must be a string")
    return await own_product(request, host, pid)


async def _own_images(request: web.Request, host: Host, body: dict[str, Any]) -> None:
    """A product may show the host's own uploads (or any outside URL), not another's."""
    app = ctx(request)
    urls = [u for u in (body.get("image"), body.get("thumb")) if isinstance(u, str)]
    await app.commerce.gallery(app.config.data_dir / "uploads",
                               app.config.uploads).check_owned(host.host_id, urls)


async def _room_ids(request: web.Request, host: Host) -> list[str]:
    return [r.room_id for r in await ctx(request).store.rooms_of(host.host_id)]


@routes.post("/api/products")
async def create_product(request: web.Request) -> web.Response:
    host = await current_host(request)
    body = await _body(request)
    data = product_input(body)
    await _own_images(request, host, body)
    commerce = ctx(request).commerce
    product = await commerce.create_product(host.host_id, data)
    return json_response(await commerce.product_view(product), status=201)


@routes.get("/api/products")
async def list_products(request: web.Request) -> web.Response:
    """The host's products (``status``: active, the default, or archived)."""
    host = await current_host(request)
    return json_response({"products": await ctx(request).commerce.products_of(
        host.host_id, request.query.get("status", "active")[:16])})


@routes.get("/api/products/{product_id}")
async def get_product(request: web.Request) -> web.Response:
    host = await current_host(request)
    product = await own_product(request, host, request.match_info["product_id"])
    return json_response(await ctx(request).commerce.product_view(product))


@routes.patch("/api/products/{product_id}")
async def update_product(request: web.Request) -> web.Response:
    host = await current_host(request)
    product = await own_product(request, host, request.match_info["product_id"])
    # The body may arrive long after the product was read: nothing read above is
    # written back; the script writes only the fields named, atomically.
    body = await _body(request)
    await _own_images(request, host, body)
    # Rooms showing this card show the new price and stock at once.
    updated = await ctx(request).commerce.update_product(product, body,
                                                         await _room_ids(request, host))
    return json_response(updated)


async def _set_status(request: web.Request, status: str) -> dict[str, Any] | None:
    host = await current_host(request)
    product = await own_product(request, host, request.match_info["product_id"])
    return await ctx(request).commerce.set_product_status(product, status,
                                                          await _room_ids(request, host))


@routes.delete("/api/products/{product_id}")
async def delete_product(request: web.Request) -> web.Response:
    await _set_status(request, "deleted")
    return web.Response(status=204)


@routes.post("/api/products/{product_id}/archive")
async def archive_product(request: web.Request) -> web.Response:
    """Off sale and off every room; kept for the host to restore."""
    return json_response(await _set_status(request, "archived"))


@routes.post("/api/products/{product_id}/restore")
async def restore_product(request: web.Request) -> web.Response:
    return json_response(await _set_status(request, "active"))


@routes.post("/api/rooms/{room_id}/products")
async def attach_product(request: web.Request) -> web.Response:
    host, room = await own_room(request)
    product = await product_from_body(request, host, await _body(request))
    listed = await ctx(request).commerce.attach(room.room_id, product)
    return json_response({"room_id": room.room_id, "product_id": listed}, status=201)


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
    product = await product_from_body(request, host, await _body(request))
    return json_response({"pinned": await ctx(request).commerce.pin(room.room_id, product)})


@routes.delete("/api/rooms/{room_id}/pin")
async def unpin(request: web.Request) -> web.Response:
    _, room = await own_room(request)
    await ctx(request).commerce.unpin(room.room_id)
    return web.Response(status=204)


@routes.post("/api/rooms/{room_id}/sales")
async def start_sale(request: web.Request) -> web.Response:
    host, room = await own_room(request)
    body = await _body(request)
    product = await product_from_body(request, host, body)
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
