"""The aiohttp application: routes, middlewares and the objects they share."""

from __future__ import annotations

import asyncio
from pathlib import Path

import redis.asyncio as aioredis
from aiohttp import web

from media.sfu import MediaSettings, Sfu

from . import rooms, signalling
from .config import Config
from .context import CONTEXT, AppContext, ctx
from .http_util import ApiError, Handler, cors_middleware, error_middleware
from .openapi import openapi_document
from .store import Store

WEB_CLIENT = Path(__file__).resolve().parent.parent / "web_client"


def media_settings(config: Config) -> MediaSettings:
    return MediaSettings(
        ice_servers=config.webrtc.ice_server_urls,
        turn_username=config.webrtc.turn_username,
        turn_credential=config.webrtc.turn_credential,
        public_ip=config.webrtc.public_ip,
        keyframe_min_interval=config.media.keyframe_min_interval_ms / 1000,
        rtx_buffer_packets=config.media.rtx_buffer_packets,
        connect_timeout=float(config.media.connect_timeout_s),
    )


async def healthz(request: web.Request) -> web.Response:
    try:
        await asyncio.wait_for(ctx(request).redis.ping(), timeout=2)
    except Exception as exc:
        raise ApiError(503, "unavailable", f"redis not answering: {exc}") from None
    return web.json_response({"status": "ok"})


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document())


def _page(name: str) -> Handler:
    async def handler(request: web.Request) -> web.FileResponse:
        return web.FileResponse(WEB_CLIENT / name, headers={"Cache-Control": "no-cache"})

    return handler


def create_app(config: Config, redis_url: str) -> web.Application:
    app = web.Application(
        middlewares=[cors_middleware(config.http.cors_origins), error_middleware],
        client_max_size=max(config.http.max_sdp_bytes, config.http.max_json_bytes),
    )
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    context = AppContext(config=config, redis=client, store=Store(client),
                         sfu=Sfu(media_settings(config)))
    app[CONTEXT] = context
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/api/openapi.json", openapi)
    app.router.add_routes(rooms.routes)
    app.router.add_routes(signalling.routes)
    app.router.add_get("/", _page("index.html"))
    app.router.add_get("/studio/{room_id}", _page("studio.html"))
    app.router.add_get("/watch/{room_id}", _page("watch.html"))
    app.router.add_static("/static/", WEB_CLIENT, show_index=False)

    async def shutdown(app: web.Application) -> None:
        await context.sfu.close()
        await client.aclose()

    app.on_shutdown.append(shutdown)
    return app
