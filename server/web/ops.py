"""Session figures for operators (every session) and hosts (their own); never for viewers."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from server.live.context import ctx
from server.ops.metrics import NodeMetrics
from server.ops.reports import SessionReports
from server.platform.wire import json_response
from server.vod.records import Session
from server.web.http import ApiError, bearer_token
from server.web.rooms import owned

routes = web.RouteTableDef()

METRICS_KEY = web.AppKey("stallcast_metrics", NodeMetrics)
REPORTS_KEY = web.AppKey("stallcast_reports", SessionReports)


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
    return owned(await ctx(request).sessions.get(sid), host_id if role == "host" else None,
                 "session")


@routes.get("/api/ops/sessions")
async def live_sessions(request: web.Request) -> web.Response:
    """Live sessions on every node, with their latest figures."""
    _, host_id = await viewer_of(request)
    return json_response({"sessions": await request.app[REPORTS_KEY].live(host_id)})


@routes.get("/api/ops/sessions/{session_id}")
async def session_series(request: web.Request) -> web.Response:
    """One session's samples over its whole length, and its report once it has ended."""
    sid = request.match_info["session_id"]
    session = await _allowed(request, sid)
    figures = request.app[REPORTS_KEY]
    report = await figures.report(sid)
    return json_response({
        "session_id": sid, "room_id": session["room_id"], "title": session["title"],
        "status": session["status"], "started_at": session["started_at"],
        "ended_at": session.get("ended_at"), "series": await figures.series(sid),
        "report": report})


@routes.get("/api/ops/reports")
async def reports(request: web.Request) -> web.Response:
    """Reports of ended sessions, newest first, and the orders past their ship-by time."""
    _, host_id = await viewer_of(request)
    figures = request.app[REPORTS_KEY]
    return json_response({"reports": await figures.reports(host_id),
                          "delivery": await figures.delivery(host_id)})


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
