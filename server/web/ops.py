"""Session figures for operators (every session) and hosts (their own); never for viewers."""

from __future__ import annotations

import json
import time

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from server.live.context import ctx
from server.ops.metrics import LIVE_INDEX, REPORTS, NodeMetrics, series
from server.platform.wire import json_response
from server.vod.records import Session
from server.web.http import ApiError, bearer_token

routes = web.RouteTableDef()

METRICS_KEY = web.AppKey("stallcast_metrics", NodeMetrics)


async def viewer_of(request: web.Request) -> tuple[str, str | None]:
    """("operator", None) or ("host", host id); 401 for no or unknown token, 403 for viewers."""
    token = bearer_token(request)
    app = ctx(request)
    if await app.store.operator_for_token(token):
        return "operator", None
    host = await app.store.host_for_token(token)
    if host is not None:
        return "host", host.host_id
    if app.viewers.verify(token):
        raise ApiError(403, "forbidden", "viewers do not see session figures")
    raise ApiError(401, "unauthorized", "unknown token",
                   headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


async def _allowed(request: web.Request, sid: str) -> Session:
    role, host_id = await viewer_of(request)
    session = await ctx(request).sessions.get(sid)
    if session is None:
        raise ApiError(404, "not_found", "no such session")
    if role == "host" and session["host_id"] != host_id:
        raise ApiError(403, "forbidden", "this session belongs to another host")
    return session


@routes.get("/api/ops/sessions")
async def live_sessions(request: web.Request) -> web.Response:
    """Live sessions on every node, with their latest figures."""
    role, host_id = await viewer_of(request)
    app = ctx(request)
    # A node that stopped sampling (crashed) drops out; a slow sample or a Redis hiccup
    # on a short interval must not hide a live session.
    stale = max(app.config.metrics.interval_s * 3, 10)
    ids = [str(i) for i in await app.redis.zrangebyscore(
        LIVE_INDEX, time.time() - stale, "+inf")]
    sessions = await app.sessions.get_many(ids)
    async with app.redis.pipeline(transaction=False) as pipe:
        for sid in ids:
            pipe.hget(f"live:{sid}", "current")
        currents = await pipe.execute()
    out = []
    for sid, session, current in zip(ids, sessions, currents, strict=True):
        if session is None or current is None:
            continue
        if role == "host" and session["host_id"] != host_id:
            continue
        out.append({"session_id": sid, "room_id": session["room_id"],
                    "title": session["title"], "host_id": session["host_id"],
                    "started_at": session["started_at"], "figures": json.loads(current)})
    return json_response({"sessions": out})


@routes.get("/api/ops/sessions/{session_id}")
async def session_series(request: web.Request) -> web.Response:
    """One session's samples over its whole length, and its report once it has ended."""
    sid = request.match_info["session_id"]
    session = await _allowed(request, sid)
    app = ctx(request)
    report = await app.redis.get(f"report:{sid}")
    return json_response({
        "session_id": sid, "room_id": session["room_id"], "title": session["title"],
        "status": session["status"], "started_at": session["started_at"],
        "ended_at": session.get("ended_at"), "series": await series(app.redis, sid),
        "report": json.loads(report) if report else None})


@routes.get("/api/ops/reports")
async def reports(request: web.Request) -> web.Response:
    """Reports of ended sessions, newest first."""
    role, host_id = await viewer_of(request)
    app = ctx(request)
    ids = [str(i) for i in await app.redis.zrevrange(REPORTS, 0, 499)]
    raws = await app.redis.mget([f"report:{sid}" for sid in ids]) if ids else []
    owners = await app.sessions.get_many(ids) if role == "host" else [None] * len(ids)
    out = []
    for raw, session in zip(raws, owners, strict=True):
        if raw is None:
            continue
        if role == "host" and (session is None or session["host_id"] != host_id):
            continue
        out.append(json.loads(raw))
    return json_response({"reports": out})


@routes.get("/metrics")
async def prometheus(request: web.Request) -> web.Response:
    app = ctx(request)
    if app.config.metrics.require_auth:
        role, _ = await viewer_of(request)
        if role != "operator":
            raise ApiError(403, "forbidden", "only operators may scrape /metrics")
    node = request.app[METRICS_KEY]
    body = generate_latest(node.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
