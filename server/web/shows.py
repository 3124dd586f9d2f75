"""Scheduled shows and channels over HTTP: hosts schedule shows in their rooms, anyone
reads a show's page data and calendar file, viewers ask to be reminded, operators set
the channels, and the show and channel pages are served."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from server.accounts.calendar import show_calendar
from server.accounts.shows import Show, parse_fields
from server.live.context import ctx
from server.live.node import room_is_live
from server.live.reminders import AUDIENCE, Audience
from server.platform.errors import RuleError
from server.platform.wire import json_response
from server.web.buyers import current_viewer, optional_viewer
from server.web.front import forget_listing, listing
from server.web.http import ApiError, read_json
from server.web.ops import viewer_of
from server.web.rooms import base_url, current_host

routes = web.RouteTableDef()

PAGES = Path(__file__).resolve().parents[2] / "web_client"


def audience(request: web.Request) -> Audience:
    return request.app[AUDIENCE]


async def _body(request: web.Request) -> dict[str, Any]:
    return await read_json(request, ctx(request).config.http.max_json_bytes)


async def _show(request: web.Request) -> Show:
    show = await audience(request).shows.get(request.match_info["show_id"])
    if show is None:
        raise ApiError(404, "not_found", "no such show")
    return show


async def _own_show(request: web.Request) -> Show:
    host = await current_host(request)
    show = await _show(request)
    if show.host_id != host.host_id:
        raise ApiError(403, "forbidden", "this show belongs to another host")
    return show


async def _checked(request: web.Request, host_id: str, fields: dict[str, Any]) -> None:
    """What a show names must exist and be the host's own: channel, products, cover."""
    app = ctx(request)
    if fields.get("category") and await audience(request).channels.get(
            fields["category"]) is None:
        raise RuleError("no such channel", code="invalid")
    for pid in fields.get("product_ids", []):
        product = await app.commerce.get_product(pid)
        if product is None or product["host_id"] != host_id:
            raise RuleError(f"no product {pid} of this host", code="invalid")
    if fields.get("cover"):
        gallery = app.commerce.gallery(app.config.data_dir / "uploads", app.config.uploads)
        await gallery.check_owned(host_id, [fields["cover"]])


async def show_view(request: web.Request, show: Show) -> dict[str, Any]:
    app = ctx(request)
    now = time.time()
    base = base_url(request)
    names = await app.store.host_names([show.host_id])
    followers = await audience(request).follows.followers_count([show.host_id])
    products = []
    for pid in show.product_ids:
        product = await app.commerce.get_product(pid)
        if product is not None and product["status"] == "active":
            products.append({"product_id": pid, "title": product["title"],
                             "price": product["price"], "currency": product["currency"],
                             "thumb": product["thumb"] or product["image"]})
    return {**show.view(now), "host_name": names.get(show.host_id, ""),
            "followers": followers[show.host_id], "products": products,
            "live": await room_is_live(app, show.room_id),
            "watch_url": f"{base}/watch/{show.room_id}",
            "show_url": f"{base}/shows/{show.show_id}",
            "calendar_url": f"{base}/api/shows/{show.show_id}/calendar.ics"}


@routes.post("/api/shows")
async def create_show(request: web.Request) -> web.Response:
    """A host schedules a show in one of its rooms."""
    host = await current_host(request)
    body = await _body(request)
    fields = parse_fields(body, time.time(), partial=False)
    room_id = body.get("room_id")
    room = await ctx(request).store.get_room(room_id) if isinstance(room_id, str) else None
    if room is None:
        raise ApiError(404, "not_found", "no such room")
    if room.host_id != host.host_id:
        raise ApiError(403, "forbidden", "this room belongs to another host")
    await _checked(request, host.host_id, fields)
    show = await audience(request).shows.create(host.host_id, room.room_id, fields)
    forget_listing(request.app)
    return json_response(await show_view(request, show), status=201)


@routes.get("/api/shows/{show_id}")
async def get_show(request: web.Request) -> web.Response:
    """Public: what the show page shows; with a viewer token, whether it follows and asked."""
    show = await _show(request)
    data = await show_view(request, show)
    viewer_id = optional_viewer(request)
    if viewer_id is not None:
        follows = audience(request).follows
        data["following"] = await follows.follows(viewer_id, show.host_id)
        data["asked"] = await follows.asked(viewer_id, show.show_id)
    return json_response(data, headers={"Cache-Control": "no-cache"})


@routes.patch("/api/shows/{show_id}")
async def update_show(request: web.Request) -> web.Response:
    show = await _own_show(request)
    fields = parse_fields(await _body(request), time.time(), partial=True)
    await _checked(request, show.host_id, fields)
    show = await audience(request).shows.update(show, fields)
    forget_listing(request.app)
    return json_response(await show_view(request, show))


@routes.delete("/api/shows/{show_id}")
async def delete_show(request: web.Request) -> web.Response:
    show = await _own_show(request)
    made = audience(request)
    await made.shows.delete(show)
    await made.follows.forget_show(show.show_id)
    await made.reminders.forget_show(show.show_id)
    forget_listing(request.app)
    return web.Response(status=204)


@routes.get("/api/shows/{show_id}/calendar.ics")
async def calendar(request: web.Request) -> web.Response:
    """The show as an iCalendar event (RFC 5545), repeating when the show repeats."""
    show = await _show(request)
    base = base_url(request)
    names = await ctx(request).store.host_names([show.host_id])
    text = show_calendar(show, names.get(show.host_id, ""), f"{base}/shows/{show.show_id}",
                         urlsplit(base).hostname or "stallcast")
    return web.Response(body=text.encode(), headers={
        "Content-Type": "text/calendar; charset=utf-8",
        "Content-Disposition": f'attachment; filename="{show.show_id}.ics"'})


async def _set_ask(request: web.Request, on: bool) -> web.Response:
    viewer_id = current_viewer(request)
    show = await _show(request)
    follows = audience(request).follows
    await (follows.ask if on else follows.unask)(viewer_id, show.show_id)
    return json_response({"show_id": show.show_id, "asked": on})


@routes.post("/api/shows/{show_id}/remind")
async def remind_me(request: web.Request) -> web.Response:
    """A viewer asks to be reminded when the show goes live."""
    return await _set_ask(request, True)


@routes.delete("/api/shows/{show_id}/remind")
async def no_reminder(request: web.Request) -> web.Response:
    return await _set_ask(request, False)


@routes.post("/api/shows/{show_id}/arrivals")
async def arrival(request: web.Request) -> web.Response:
    """The watch page opened from a reminder's link: counted once per viewer and show."""
    viewer_id = current_viewer(request)
    show = await _show(request)
    counted = await audience(request).reminders.arrived(viewer_id, show.show_id)
    return json_response({"counted": counted})


# -- channels: operators set them, anyone lists them ----------------------------------------
async def _operator(request: web.Request) -> None:
    role, _ = await viewer_of(request)
    if role != "operator":
        raise ApiError(403, "forbidden", "only operators set channels")


@routes.get("/api/channels")
async def channels(request: web.Request) -> web.Response:
    return json_response({"channels": await audience(request).channels.all()})


@routes.post("/api/channels")
async def create_channel(request: web.Request) -> web.Response:
    await _operator(request)
    made = await audience(request).channels.create(await _body(request))
    return json_response(made, status=201)


@routes.patch("/api/channels/{slug}")
async def rename_channel(request: web.Request) -> web.Response:
    await _operator(request)
    made = await audience(request).channels.rename(request.match_info["slug"],
                                                   await _body(request))
    return json_response(made)


@routes.delete("/api/channels/{slug}")
async def delete_channel(request: web.Request) -> web.Response:
    await _operator(request)
    await audience(request).channels.remove(request.match_info["slug"])
    forget_listing(request.app)
    return web.Response(status=204)


@routes.get("/api/channels/{slug}")
async def channel_shows(request: web.Request) -> web.Response:
    """Public: the channel, its live shows (ranked) and then its upcoming ones."""
    channel = await audience(request).channels.get(request.match_info["slug"])
    if channel is None:
        raise ApiError(404, "not_found", "no such channel")
    shows = await listing(request, channel["slug"])
    return json_response({"channel": channel, **shows})


async def _page(name: str) -> web.FileResponse:
    return web.FileResponse(PAGES / name, headers={"Cache-Control": "no-cache"})


@routes.get("/shows/{show_id}")
async def show_page(request: web.Request) -> web.FileResponse:
    return await _page("shows/show.html")


@routes.get("/channels/{slug}")
async def channel_page(request: web.Request) -> web.FileResponse:
    return await _page("channels/channel.html")
