"""Recorded sessions become classes: listed publicly, bought through the order flow, played
through signed, expiring URLs (the free preview for anyone, the whole class once bought)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from server.commerce.rules import CURRENCY
from server.live.context import ctx
from server.live.show import announce_replay
from server.platform.text import TextError, clean_text
from server.platform.wire import json_response
from server.vod.records import Class, Session
from server.web.buyers import current_viewer, optional_viewer, order_response
from server.web.http import ApiError, read_json
from server.web.rooms import current_host, owned

routes = web.RouteTableDef()

SEGMENT = re.compile(r"^(index\.m3u8|seg_\d{5}\.ts)$")


def session_view(session: Session) -> dict[str, Any]:
    keys = ("session_id", "room_id", "title", "started_at", "ended_at", "status", "progress",
            "duration", "codec", "error", "offset_ms")
    s: Mapping[str, Any] = session
    return {k: s[k] for k in keys if k in s}


def class_view(c: Class, session: Session | None) -> dict[str, Any]:
    ready = bool(session and session.get("status") == "ready")
    return {
        "class_id": c["class_id"], "title": c["title"], "description": c.get("description", ""),
        "price": c["price"], "currency": c["currency"],
        "preview_seconds": c["preview_seconds"],
        "duration": session.get("duration") if session else None,
        "status": session.get("status") if session else "missing",
        "progress": session.get("progress") if session else None,
        "poster": f"/vod/{c['class_id']}/poster.jpg" if ready else None,
        "created_at": c["created_at"],
    }


async def _own_session(request: web.Request) -> Session:
    host = await current_host(request)
    return owned(await ctx(request).sessions.get(request.match_info["session_id"]),
                 host.host_id, "session")


async def _class(request: web.Request) -> tuple[Class, Session | None]:
    app = ctx(request)
    cls = await app.sessions.get_class(request.match_info["class_id"])
    if cls is None:
        raise ApiError(404, "not_found", "no such class")
    return cls, await app.sessions.get(cls["session_id"])


@routes.get("/api/sessions")
async def list_sessions(request: web.Request) -> web.Response:
    host = await current_host(request)
    sessions = await ctx(request).sessions.of_host(host.host_id)
    return json_response({"sessions": [session_view(s) for s in sessions]})


@routes.get("/api/sessions/{session_id}")
async def get_session(request: web.Request) -> web.Response:
    session = await _own_session(request)
    view = session_view(session)
    view["timeline"] = await ctx(request).sessions.timeline(session)
    return json_response(view)


@routes.post("/api/sessions/{session_id}/class")
async def create_class(request: web.Request) -> web.Response:
    session = await _own_session(request)
    app = ctx(request)
    body = await read_json(request, app.config.http.max_json_bytes)
    title = body.get("title", session["title"])
    description = body.get("description", "")
    price, preview = body.get("price"), body.get("preview_seconds", 60)
    currency = body.get("currency", "CNY")
    try:
        title = clean_text(title, "title", 200)
        description = clean_text(description, "description", 5000, required=False,
                                 multiline=True)
    except TextError as exc:
        raise ApiError(400, "invalid", str(exc)) from None
    if isinstance(price, bool) or not isinstance(price, int) or not 0 <= price <= 10**9:
        raise ApiError(400, "invalid", "price must be an integer in minor units")
    if isinstance(preview, bool) or not isinstance(preview, int) or not 0 <= preview <= 3600:
        raise ApiError(400, "invalid", "preview_seconds must be 0-3600")
    if not isinstance(currency, str) or not CURRENCY.match(currency):
        raise ApiError(400, "invalid", "currency must be an ISO 4217 code")
    if session["status"] not in ("packaging", "ready"):
        raise ApiError(409, "conflict", f"the session is {session['status']}: only a "
                                        "finished recording can become a class")
    cls, created = await app.sessions.create_class(session, {
        "title": title, "description": description, "price": price,
        "currency": currency, "preview_seconds": preview})
    if not created:
        raise ApiError(409, "conflict", f"this session is already class {cls['class_id']}",
                       headers={"Location": f"/api/classes/{cls['class_id']}"})
    # Viewers still on the ended show's page learn where its replay is (replay_ready).
    await announce_replay(app, session["room_id"], session["session_id"], cls["class_id"])
    return json_response(class_view(cls, session), status=201)


@routes.get("/api/classes")
async def list_classes(request: web.Request) -> web.Response:
    app = ctx(request)
    classes = await app.sessions.classes()
    sessions = await app.sessions.get_many([c["session_id"] for c in classes])
    out = [class_view(cls, session) for cls, session in zip(classes, sessions, strict=True)
           if session and session.get("status") == "ready"]
    return json_response({"classes": out})


@routes.get("/api/classes/{class_id}")
async def get_class(request: web.Request) -> web.Response:
    cls, session = await _class(request)
    return json_response(class_view(cls, session))


@routes.post("/api/classes/{class_id}/buy")
async def buy_class(request: web.Request) -> web.Response:
    viewer = current_viewer(request)
    cls, _ = await _class(request)
    app = ctx(request)
    body = await read_json(request, app.config.http.max_json_bytes)
    return await order_response(app.commerce.buy_class(cls, viewer, body))


@routes.get("/api/classes/{class_id}/play")
async def play(request: web.Request) -> web.Response:
    """A signed playlist URL: the whole class for its buyers, the free preview for others."""
    viewer = optional_viewer(request)
    cls, session = await _class(request)
    if session is None or session.get("status") != "ready":
        raise ApiError(409, "not_ready", "the class is still being prepared")
    app = ctx(request)
    entitled = await app.sessions.entitled(viewer, cls["class_id"])
    scope = "full" if entitled else "preview"
    return json_response({
        "class_id": cls["class_id"], "entitled": entitled,
        "playlist": app.signer.sign(f"/vod/{cls['class_id']}/index.m3u8", scope),
        "preview_seconds": cls["preview_seconds"], "duration": session.get("duration"),
        "position": await app.sessions.position(viewer, cls["class_id"]),
        "timeline": await app.sessions.timeline(session),
    })


@routes.put("/api/classes/{class_id}/position")
async def save_position(request: web.Request) -> web.Response:
    viewer = current_viewer(request)
    cls, session = await _class(request)
    body = await read_json(request, ctx(request).config.http.max_json_bytes)
    seconds = body.get("seconds")
    limit = float(session.get("duration") or 0) + 1 if session else 0
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not (
            0 <= seconds <= max(limit, 1)):
        raise ApiError(400, "invalid", "seconds must be a position inside the class")
    await ctx(request).sessions.save_position(viewer, cls["class_id"], float(seconds))
    return json_response({"seconds": float(seconds)})


def _preview_playlist(text: str, preview: float) -> str:
    """Cut a VOD playlist after the segments that cover the first ``preview`` seconds."""
    out, total, cut = [], 0.0, False
    for line in text.splitlines():
        if cut:
            break
        if line.startswith("#EXT-X-ENDLIST"):
            continue
        out.append(line)
        if line.startswith("#EXTINF:"):
            total += float(line[8:].split(",")[0])
        elif line and not line.startswith("#") and total >= preview:
            cut = True
    out.append("#EXT-X-ENDLIST")
    return "\n".join(out) + "\n"


@routes.get("/vod/{class_id}/{name}")
async def vod_file(request: web.Request) -> web.StreamResponse:
    app = ctx(request)
    name = request.match_info["name"]
    cls, session = await _class(request)
    if session is None or session.get("status") != "ready":
        raise ApiError(404, "not_found", "not ready")
    folder = app.config.data_dir / "vod" / cls["session_id"]
    if name == "poster.jpg":
        return web.FileResponse(folder / name, headers={"Cache-Control": "max-age=3600"})
    if not SEGMENT.match(name):
        raise ApiError(404, "not_found", "no such file")
    q = request.query
    scope = q.get("scope", "")
    if scope not in ("full", "preview") or not app.signer.verify(
            request.path, q.get("exp", ""), scope, q.get("sig", "")):
        raise ApiError(403, "forbidden", "missing, tampered or expired signature")
    if name.endswith(".ts"):
        return web.FileResponse(folder / name, headers={"Content-Type": "video/mp2t",
                                                        "Cache-Control": "private"})
    text = (folder / name).read_text()
    if scope == "preview":
        text = _preview_playlist(text, float(cls["preview_seconds"]))
    lines = []
    for line in text.splitlines():
        if line and not line.startswith("#"):
            line = app.signer.sign(f"/vod/{cls['class_id']}/{line}", scope)
        lines.append(line)
    return web.Response(text="\n".join(lines) + "\n",
                        content_type="application/vnd.apple.mpegurl",
                        headers={"Cache-Control": "private, no-store"})
