"""The aiohttp application: routes, middlewares and the objects they share."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import redis.asyncio as aioredis
from aiohttp import web

from media.sfu import MediaSettings, Sfu
from server.accounts.store import Store
from server.audience.chat import Chat
from server.audience.signin import Accounts
from server.audience.sms import sms_provider
from server.audience.viewer_merge import ViewerMerge
from server.audience.viewers import ViewerAuth
from server.commerce.auctions import Auctions
from server.commerce.buyer_merge import BuyerMerge
from server.commerce.giveaways import Giveaways
from server.commerce.payments import provider
from server.commerce.records import Order
from server.commerce.rules import order_kind
from server.commerce.service import Commerce
from server.commerce.store import CommerceStore
from server.live.broadcasts import RecordingManager
from server.live.channel import ChannelHandler
from server.live.context import CONTEXT, AppContext, ctx
from server.live.limits import LIMITS, SessionLimits
from server.live.node import NODE, Node
from server.live.presence import Presence
from server.live.reminders import install as install_audience_return
from server.ops.counters import SessionCounters
from server.ops.metrics import NodeMetrics, Sampler
from server.ops.reports import SessionReports
from server.platform.config import Config
from server.platform.events import EventBus
from server.platform.wire import json_response
from server.vod.class_merge import ClassMerge
from server.vod.packaging import PackagingWorker
from server.vod.sessions import SessionStore
from server.vod.signing import UrlSigner
from server.web import (
    account,
    auctions,
    buyers,
    classes,
    coupons,
    follows,
    front,
    giveaways,
    moderation,
    ops,
    rooms,
    shop,
    shows,
    signalling,
    uploads,
)
from server.web.http import (
    BODY_TIMEOUT,
    ApiError,
    Handler,
    cors,
    error_middleware,
    security_headers,
)
from server.web.openapi import openapi_document

WEB_CLIENT = Path(__file__).resolve().parent.parent / "web_client"


log = logging.getLogger("stallcast.app")


def media_settings(config: Config) -> MediaSettings:
    return MediaSettings(
        ice_servers=config.webrtc.ice_server_urls,
        turn_username=config.webrtc.turn_username,
        turn_credential=config.webrtc.turn_credential,
        public_ip=config.webrtc.public_ip,
        consent_interval=float(config.webrtc.consent_interval_s),
        consent_failures=config.webrtc.consent_failures,
        keyframe_min_interval=config.media.keyframe_min_interval_ms / 1000,
        rtx_buffer_packets=config.media.rtx_buffer_packets,
        connect_timeout=float(config.media.connect_timeout_s),
        publisher_rcvbuf_bytes=config.media.publisher_rcvbuf_bytes,
        remb_floor_bps=config.media.remb_floor_bps,
        remb_ceiling_bps=config.media.remb_ceiling_bps,
        join_concurrency=config.media.join_concurrency,
        join_queue_max=config.media.join_queue_max,
        join_wait=float(config.media.join_wait_s),
        join_max_backlog=config.media.join_max_backlog_ms / 1000,
        join_slot_max=config.media.join_slot_max_ms / 1000,
        certificate_rotate=float(config.media.certificate_rotate_s),
        host_absent_timeout=float(config.media.host_absent_timeout_s),
    )


async def healthz(request: web.Request) -> web.Response:
    try:
        await asyncio.wait_for(ctx(request).redis.ping(), timeout=2)
    except Exception as exc:
        raise ApiError(503, "unavailable", f"redis not answering: {exc}") from None
    return json_response({"status": "ok"})


async def openapi(request: web.Request) -> web.Response:
    return json_response(openapi_document())


def _page(name: str) -> Handler:
    async def handler(request: web.Request) -> web.FileResponse:
        return web.FileResponse(WEB_CLIENT / name, headers={"Cache-Control": "no-cache"})

    return handler


def create_app(config: Config, redis_url: str) -> web.Application:
    cors_middleware, cors_headers = cors(config.http.cors_origins,
                                         config.http.public_cors_origins)
    app = web.Application(
        middlewares=[cors_middleware, error_middleware],
        client_max_size=max(config.http.max_sdp_bytes, config.http.max_json_bytes),
    )
    app.on_response_prepare.append(cors_headers)
    app.on_response_prepare.append(security_headers)
    # Bounded pools that queue callers instead of failing when a burst of buys arrives.
    client = aioredis.Redis(connection_pool=aioredis.BlockingConnectionPool.from_url(
        redis_url, decode_responses=True, max_connections=config.redis.pool_size,
        timeout=10))
    # Binary: events are msgpack.
    bus_client = aioredis.Redis(connection_pool=aioredis.BlockingConnectionPool.from_url(
        redis_url, max_connections=config.redis.bus_pool_size, timeout=10))
    deliver_ref: list[Node] = []
    bus = EventBus(bus_client, lambda room_id, event: deliver_ref[0].deliver(room_id, event))
    commerce = Commerce(CommerceStore(client), bus, provider(config.commerce.payment_provider),
                        float(config.commerce.reservation_ttl_s))
    chat = Chat(client, bus, config.commerce.chat_messages_per_window,
                config.commerce.chat_window_s,
                address_factor=config.commerce.chat_address_factor,
                likes_per_second=config.commerce.likes_per_second)
    sessions = SessionStore(client)
    viewers = ViewerAuth()
    accounts = Accounts(client, viewers, sms_provider(config.accounts), config.accounts)
    context = AppContext(config=config, redis=client, store=Store(client),
                         sfu=Sfu(media_settings(config)), bus=bus, commerce=commerce,
                         chat=chat, viewers=viewers, sessions=sessions,
                         signer=UrlSigner(b"", config.recording.url_ttl_s), accounts=accounts)
    # What a sign-in moves into the account, one hook per key family (live/merging.py).
    context.merges.add("orders", BuyerMerge(client).merge)
    context.merges.add("classes", ClassMerge(client).merge)
    context.merges.add("viewer", ViewerMerge(client).merge)
    context.merges.add("coupons", commerce.coupons.merge)
    commerce.coupons.limits = config.coupons
    context.auctions = Auctions(commerce, config.auctions)
    context.giveaways = Giveaways(commerce, config.giveaways, chat.nickname)
    context.presence = Presence(client, context.sfu, float(config.giveaways.presence_interval_s))
    bus.observers.append(context.giveaways.note_chat)
    node = Node(context)
    deliver_ref.append(node)
    recording = RecordingManager(context.sfu, context.store, sessions, config.data_dir,
                                 float(config.recording.rejoin_grace_s),
                                 record=config.recording.enabled, node_id=node.node_id,
                                 keyframe_interval=float(config.recording.keyframe_interval_s))
    node.observers.append(recording.on_event)
    returning = install_audience_return(app, context, node)  # follows, shows, reminders
    context.merges.add("follows", returning.follows.merge)
    packaging = PackagingWorker(sessions, config.data_dir, node.node_id,
                                float(config.recording.packaging_stale_after_s))
    bus.observers.append(sessions.note)
    node_metrics = NodeMetrics()
    counters = SessionCounters(client, node_metrics.registry)
    sampler = Sampler(context.sfu, client, sessions, counters, node_metrics,
                      float(config.metrics.interval_s), recording.active)
    if config.metrics.enabled:
        commerce.counters = counters
        chat.counters = counters
        recording.on_session_end = sampler.finish
    bus.on_latency = node_metrics.fanout.observe
    app[ops.METRICS_KEY] = node_metrics
    app[ops.REPORTS_KEY] = SessionReports(client, sessions, float(config.metrics.interval_s))

    async def class_access(order: Order) -> None:
        """A class is watched while its order is paid: granted on confirmation, taken back
        when the order is cancelled or refunded."""
        if order_kind(order) != "digital":
            return
        if order["status"] == "confirmed":
            await sessions.grant(order["buyer_id"], order["product_id"])
        elif order["status"] == "cancelled":
            await sessions.revoke(order["buyer_id"], order["product_id"])

    commerce.on_status = class_access
    channel = ChannelHandler(context)
    context.sfu.announce = node.announce
    context.sfu.on_channel_open = channel.on_open
    context.sfu.on_message = channel.on_message
    app[CONTEXT] = context
    app[NODE] = node
    app[LIMITS] = SessionLimits(context.sfu, config.limits)
    app[BODY_TIMEOUT] = float(config.limits.body_timeout_s)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/api/openapi.json", openapi)
    # buyers first: in a flash sale a buy is matched before any other /api/rooms/ route.
    for module in (buyers, rooms, signalling, shop, moderation, classes, ops, front, uploads,
                   account, auctions, giveaways, coupons, follows, shows):
        app.router.add_routes(module.routes)
    app.router.add_get("/", _page("index.html"))
    app.router.add_get("/studio/{room_id}", _page("studio/studio.html"))
    app.router.add_get("/watch/{room_id}", _page("watch/watch.html"))
    app.router.add_get("/studio", _page("studio/studio.html"))
    app.router.add_get("/ops", _page("ops/ops.html"))
    app.router.add_get("/classes", _page("classes/classes.html"))
    app.router.add_get("/classes/{class_id}", _page("classes/class.html"))
    app.router.add_static("/static/", WEB_CLIENT, show_index=False)

    async def startup(app: web.Application) -> None:
        await context.viewers.load(client, config.commerce.viewer_mints_per_minute)
        context.signer = UrlSigner(context.viewers.derive("replay-urls"),
                                   config.recording.url_ttl_s)
        await accounts.start()
        await bus.start()
        commerce.start()
        packaging.start()
        if config.metrics.enabled:
            sampler.start()
        node.spawn(node.keep_claims())
        node.spawn(context.auctions.run())
        node.spawn(context.presence.run())
        node.spawn(recording.reap_forever(config.cluster.orphan_scan_s))

    async def shutdown(app: web.Application) -> None:
        steps = [("sfu", context.sfu.close), ("recording", recording.close),
                 ("metrics", sampler.close),
                 ("packaging", packaging.close), ("node", node.close),
                 ("commerce", commerce.close), ("auctions", context.auctions.close),
                 ("chat", chat.close), ("accounts", accounts.close), ("bus", bus.close),
                 ("redis", client.aclose),
                 ("bus redis", bus_client.aclose)]
        for name, close in steps:
            try:
                await asyncio.wait_for(close(), timeout=10)
            except (TimeoutError, Exception) as exc:
                log.warning("shutdown step failed", extra={"step": name, "reason": repr(exc)})

    app.on_startup.append(startup)
    app.on_shutdown.append(shutdown)
    return app
