"""WHIP (RFC 9725) ingest and WHEP playback: SDP offer in, SDP answer and a session URL out."""

from __future__ import annotations

import hmac
import logging

from aiohttp import web

from media.sfu import JoinQueueFull, RoomBusy, SdpError, SessionNotFound
from server.accounts.store import Room, token_digest
from server.live.context import ctx
from server.live.limits import LIMITS
from server.live.node import NODE
from server.platform.errors import RuleError
from server.web.buyers import client_tag, optional_viewer
from server.web.http import ApiError, bearer_token, read_body

log = logging.getLogger("stallcast.signalling")

routes = web.RouteTableDef()

SDP = "application/sdp"
# A broadcast outlives a key rotation: its encoder ends it with the key it started with, which
# is remembered (as a digest) this long.


async def _room(request: web.Request) -> Room:
    room = await ctx(request).store.get_room(request.match_info["room_id"])
    if room is None:
        raise ApiError(404, "not_found", "no such room")
    return room


async def _offer(request: web.Request) -> str:
    if request.content_type != SDP:
        raise ApiError(415, "unsupported_media_type", f"Content-Type must be {SDP}")
    raw = await read_body(request, ctx(request).config.http.max_sdp_bytes)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "bad_sdp", "SDP is not UTF-8") from None


def _ice_links(request: web.Request) -> list[str]:
    cfg = ctx(request).config.webrtc
    links = []
    for url in cfg.ice_server_urls:
        link = f'<{url}>; rel="ice-server"'
        if url.startswith("turn") and cfg.turn_username:
            link += (f'; username="{cfg.turn_username}"; credential="{cfg.turn_credential}"'
                     '; credential-type="password"')
        links.append(link)
    return links


def _answer_response(request: web.Request, location: str, answer: str) -> web.Response:
    resp = web.Response(status=201, text=answer, content_type=SDP,
                        headers={"Location": location, "ETag": '"1"'})
    for link in _ice_links(request):
        resp.headers.add("Link", link)
    return resp


def _check_key(request: web.Request, room: Room, started_with: str | None = None) -> None:
    """The room's current stream key, or for a session's own resource the digest of the
    key the session started with."""
    token = bearer_token(request)
    if room.key_matches(token):
        return
    if started_with and hmac.compare_digest(started_with, token_digest(token)):
        return
    raise ApiError(401, "unauthorized", "wrong stream key",
                   headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


@routes.post("/whip/{room_id}")
async def whip_publish(request: web.Request) -> web.Response:
    room = await _room(request)
    _check_key(request, room)
    offer = await _offer(request)
    node = request.app[NODE]
    busy = ApiError(409, "already_live", "this room already has a live publisher; "
                    "POST with ?takeover=1 to end it and publish from here")
    if not await node.claim_room(room.room_id):
        if request.query.get("takeover") not in ("1", "true"):
            raise busy
        # A second device of the host's (the key proves it): the old publisher is ended
        # and this one continues the session, as a host back from a drop would.
        await node.take_over(room.room_id)
        if not await node.claim_room(room.room_id):
            raise busy
    client = await client_tag(request)
    try:
        with request.app[LIMITS].slot(client):
            session_id, answer = await ctx(request).sfu.publish(room.room_id, offer)
    except (SdpError, RuleError) as exc:
        router = ctx(request).sfu.routers.get(room.room_id)
        if router is None or not router.live:
            await node.release_room(room.room_id)
        if isinstance(exc, RuleError):
            raise
        raise ApiError(400, "bad_sdp", str(exc)) from None
    except RoomBusy:
        raise busy from None
    await ctx(request).store.remember_broadcast_key(session_id, bearer_token(request))
    return _answer_response(request, f"/whip/{room.room_id}/{session_id}", answer)


@routes.route("OPTIONS", "/whip/{room_id}")
@routes.route("OPTIONS", "/whep/{room_id}")
async def options(request: web.Request) -> web.Response:
    resp = web.Response(status=204, headers={"Accept-Post": SDP})
    for link in _ice_links(request):
        resp.headers.add("Link", link)
    return resp


async def _end(request: web.Request, role: str) -> web.Response:
    app = ctx(request)
    room_id = request.match_info["room_id"]
    session_id = request.match_info["session_id"]
    try:
        owner, kind = app.sfu.session_room(session_id)
    except SessionNotFound:
        raise ApiError(404, "not_found", "no such session") from None
    if owner != room_id or kind != role:
        raise ApiError(404, "not_found", "no such session")
    # Answered at once with a complete response (200, Content-Length: 0); the peer
    # connection is torn down after, whatever state it is in.
    await app.sfu.end_session_soon(session_id)
    return web.Response(status=200, body=b"")


@routes.delete("/whip/{room_id}/{session_id}")
async def whip_end(request: web.Request) -> web.Response:
    room = await _room(request)
    session_id = request.match_info["session_id"]
    started_with = await ctx(request).store.broadcast_key(session_id)
    _check_key(request, room, started_with)
    response = await _end(request, "publisher")
    await ctx(request).store.forget_broadcast_key(session_id)
    return response


@routes.patch("/whip/{room_id}/{session_id}")
@routes.patch("/whep/{room_id}/{session_id}")
async def no_trickle(request: web.Request) -> web.Response:
    """The server gathers all candidates before answering; trickle ICE is not offered."""
    raise ApiError(405, "method_not_allowed", "trickle ICE and ICE restarts are not supported",
                   headers={"Allow": "DELETE"})


@routes.post("/whep/{room_id}")
async def whep_play(request: web.Request) -> web.Response:
    room = await _room(request)
    # The room's own host may watch (its studio follows the room's events) without being
    # counted as audience; anyone else is an anonymous or identified viewer.
    observer = False
    identity = None
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        host = await ctx(request).store.host_for_token(header[7:].strip())
        observer = host is not None and host.host_id == room.host_id
    if not observer:
        identity = optional_viewer(request)
    offer = await _offer(request)
    client = await client_tag(request)
    try:
        with request.app[LIMITS].slot(client, None if observer else room.room_id):
            session_id, answer = await ctx(request).sfu.view(room.room_id, offer, identity,
                                                             observer=observer, client=client)
    except SdpError as exc:
        raise ApiError(400, "bad_sdp", str(exc)) from None
    except JoinQueueFull as exc:  # a join storm: newcomers wait, the show goes on
        raise ApiError(503, "busy", str(exc),
                       headers={"Retry-After": str(exc.retry_after)}) from None
    return _answer_response(request, f"/whep/{room.room_id}/{session_id}", answer)


@routes.delete("/whep/{room_id}/{session_id}")
async def whep_end(request: web.Request) -> web.Response:
    await _room(request)
    return await _end(request, "viewer")
