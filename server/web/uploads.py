"""Product photos: a host uploads the raw image its phone took or picked; anyone may fetch
the card and thumbnail made from it (they are shown on public cards)."""

from __future__ import annotations

from aiohttp import web

from server.commerce.gallery import Gallery
from server.commerce.images import declared_format
from server.live.context import ctx
from server.platform.wire import json_response
from server.web.http import ApiError, read_body
from server.web.rooms import current_host

routes = web.RouteTableDef()

# Bodies are read whole (up to uploads.max_image_bytes) before they are decoded: at most this
# many on a node at once, two per host, so a burst of uploads holds a bounded amount of
# memory. The rest are told to retry (a phone's studio retries once after Retry-After).
UPLOADS_IN_FLIGHT = 8
UPLOADS_PER_HOST = 2
RETRY_AFTER_S = "2"
_in_flight: dict[str, int] = {}

# The names are random and never reused: a browser or CDN may keep a file for good.
FILE_HEADERS = {"Cache-Control": "public, max-age=31536000, immutable",
                "Content-Type": "image/jpeg", "X-Content-Type-Options": "nosniff",
                "Cross-Origin-Resource-Policy": "cross-origin"}


def _gallery(request: web.Request) -> Gallery:
    app = ctx(request)
    return app.commerce.gallery(app.config.data_dir / "uploads", app.config.uploads)


@routes.post("/api/uploads")
async def upload(request: web.Request) -> web.Response:
    host = await current_host(request)
    if declared_format(request.headers.get("Content-Type", "")) is None:
        raise ApiError(415, "unsupported_media_type",
                       "Content-Type must be image/jpeg, image/png or image/webp")
    if (sum(_in_flight.values()) >= UPLOADS_IN_FLIGHT
            or _in_flight.get(host.host_id, 0) >= UPLOADS_PER_HOST):
        raise ApiError(503, "busy", "too many uploads at once; retry shortly",
                       headers={"Retry-After": RETRY_AFTER_S})
    _in_flight[host.host_id] = _in_flight.get(host.host_id, 0) + 1
    try:
        data = await read_body(request, ctx(request).config.uploads.max_image_bytes)
        made = await _gallery(request).add(host.host_id, data, request.headers["Content-Type"])
    finally:
        left = _in_flight.pop(host.host_id) - 1
        if left:
            _in_flight[host.host_id] = left
    return json_response(made, status=201)


@routes.delete("/api/uploads/{image_id}")
async def delete_upload(request: web.Request) -> web.Response:
    host = await current_host(request)
    await _gallery(request).remove(host.host_id, request.match_info["image_id"])
    return web.Response(status=204)


@routes.get("/uploads/{name}")
async def serve_upload(request: web.Request) -> web.StreamResponse:
    path = _gallery(request).path(request.match_info["name"])
    if path is None or not path.is_file():
        raise ApiError(404, "not_found", "no such image")
    return web.FileResponse(path, headers=FILE_HEADERS)
