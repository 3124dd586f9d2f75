"""Buyer accounts over HTTP: ask for a sign-in code, sign in with it (merging this device's
anonymous identity into the account), and say who is signed in."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from server.audience.signin import one_time_code, phone_number
from server.audience.sms import SmsError, mask
from server.live.context import ctx
from server.platform.wire import json_response
from server.web.buyers import bad_token, client_tag
from server.web.http import ApiError, bearer_token, read_json

routes = web.RouteTableDef()

BODY_MAX = 1024  # a phone and a code


def _caller(request: web.Request) -> str:
    """The signed-in identity, merged ones included: a sign-in whose merge failed half-way
    is finished by signing in again from the same page."""
    viewer_id = ctx(request).viewers.verify(bearer_token(request))
    if viewer_id is None:
        raise bad_token()
    return viewer_id


async def _body(request: web.Request, fields: set[str]) -> dict[str, Any]:
    body = await read_json(request, BODY_MAX)
    if set(body) != fields:
        raise ApiError(400, "invalid", "send {" + ", ".join(
            f'"{name}": ...' for name in sorted(fields)) + "}")
    return body


@routes.post("/api/account/code")
async def send_code(request: web.Request) -> web.Response:
    """Text a one-time code to the phone (limited per number and per client address)."""
    _caller(request)
    body = await _body(request, {"phone"})
    phone = phone_number(body["phone"])
    try:
        ttl = await ctx(request).accounts.send_code(phone, await client_tag(request))
    except SmsError as exc:
        raise ApiError(503, "sms_unavailable", str(exc), headers={"Retry-After": "30"}) from None
    return json_response({"sent": True, "expires_in": ttl, "phone": mask(phone)}, status=202)


@routes.post("/api/account/signin")
async def sign_in(request: web.Request) -> web.Response:
    """Sign in with the code: the account's token, after this identity's orders, classes,
    follows, name and mutes have moved into it."""
    viewer_id = _caller(request)
    body = await _body(request, {"phone", "code"})
    phone = phone_number(body["phone"])
    code = one_time_code(body["code"])
    app = ctx(request)
    signed = await app.accounts.sign_in(phone, code, viewer_id)
    moved: dict[str, int] = {}
    if signed.outcome == "merge":
        moved = await app.merges.run(viewer_id, signed.viewer_id)
    return json_response({"viewer_id": signed.viewer_id,
                          "token": app.viewers.token_for(signed.viewer_id),
                          "account": {"phone": signed.phone}, "outcome": signed.outcome,
                          "moved": moved})
