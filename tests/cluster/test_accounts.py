"""Buyer accounts: a phone and a one-time code sign a viewer in, and signing in on another
device merges that device's identity (orders, classes, name, mutes, per-buyer counts) into
the account, whose token it gets; the old token answers 401 merged. Codes come from the
console provider's log line (caplog) or from a real webhook gateway (a small aiohttp server
here); they expire, are single use, burn after 5 wrong tries and are limited per number and
per client address."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import msgpack
import pytest
from aiohttp import web

from helpers.addressed import PROXIED
from helpers.addressed import Client as AddressedClient
from helpers.clients import wait_for, watch
from helpers.rooms import open_shop
from helpers.servers import Running, free_port, start_server
from helpers.shop import contact_for


class Client(AddressedClient):
    """Speaks from one address unless told; asks for codes and signs in."""

    def __init__(self, base: str, http: aiohttp.ClientSession,
                 address: str = "198.51.100.1") -> None:
        super().__init__(base, http, address)

    async def ask_code(self, token: str, phone: str) -> tuple[int, Any, Mapping[str, str]]:
        return await self.call("POST", "/api/account/code", token, {"phone": phone})

    async def sign_in(self, token: str, phone: str, code: str) -> tuple[int, Any]:
        status, body, _ = await self.call("POST", "/api/account/signin", token,
                                          {"phone": phone, "code": code})
        return status, body


STANDARD = set(vars(logging.makeLogRecord({})))


def log_lines(caplog: pytest.LogCaptureFixture, skip: str = "") -> list[str]:
    """Each record's message and extra fields as text (the logger ``skip`` left out)."""
    return [r.getMessage() + " " + json.dumps({k: str(v) for k, v in vars(r).items()
                                               if k not in STANDARD})
            for r in caplog.records if r.name != skip]


def logged_code(caplog: pytest.LogCaptureFixture, phone_tail: str) -> str:
    """The newest code the console provider logged for a number ending in ``phone_tail``."""
    codes = [r.__dict__["code"] for r in caplog.records
             if r.name == "stallcast.sms" and str(r.__dict__.get("phone", "")).endswith(
                 phone_tail) and "code" in r.__dict__]
    assert codes, f"no code logged for …{phone_tail}"
    return str(codes[-1])


async def code_for(client: Client, caplog: pytest.LogCaptureFixture, token: str,
                   phone: str) -> str:
    status, body, _ = await client.ask_code(token, phone)
    assert status == 202, body
    assert body["expires_in"] > 0 and phone[-4:] in body["phone"] and "•" in body["phone"]
    return logged_code(caplog, phone[-4:])


@pytest.fixture
async def accounts(redis_url: str) -> AsyncIterator[tuple[Running, Client]]:
    async with start_server(redis_url, PROXIED) as server, aiohttp.ClientSession() as http:
        yield server, Client(server.base, http)


@pytest.fixture(autouse=True)
def _sms_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="stallcast")


async def test_console_code_signs_in_once(accounts: tuple[Running, Client],
                                          caplog: pytest.LogCaptureFixture) -> None:
    server, client = accounts
    vid, token = await client.viewer()
    status, me, _ = await client.call("GET", "/api/me", token)
    assert status == 200 and me["account"] is None
    code = await code_for(client, caplog, token, "+86 138-0013-8001")
    status, body = await client.sign_in(token, "+8613800138001", code)
    assert status == 200, body
    assert body["viewer_id"] == vid and body["outcome"] == "new" and body["token"] == token
    status, me, _ = await client.call("GET", "/api/me", token)
    assert me["account"]["phone"].endswith("8001") and "13800138001" not in json.dumps(me)
    # Single use: the same code again is refused, and so is a new device with it.
    status, body = await client.sign_in(token, "+8613800138001", code)
    assert status == 400 and body["error"]["code"] == "expired_code"
    # The code never reaches any other log line, and Redis holds neither code nor phone.
    assert not [line for line in log_lines(caplog, skip="stallcast.sms") if code in line]
    keys = [k async for k in server.ctx.redis.scan_iter("*")]
    dump = json.dumps(keys) + json.dumps([await server.ctx.redis.type(k) for k in keys])
    assert "13800138001" not in dump


async def test_codes_expire(redis_url: str, caplog: pytest.LogCaptureFixture) -> None:
    env = {**PROXIED, "STALLCAST_ACCOUNTS_CODE_TTL_S": "1"}
    async with start_server(redis_url, env) as server, aiohttp.ClientSession() as http:
        client = Client(server.base, http)
        _, token = await client.viewer()
        code = await code_for(client, caplog, token, "+8613800138002")
        await asyncio.sleep(2.1)
        status, body = await client.sign_in(token, "+8613800138002", code)
        assert status == 400 and body["error"]["code"] == "expired_code", body


async def test_wrong_tries_burn_the_code(accounts: tuple[Running, Client],
                                         caplog: pytest.LogCaptureFixture) -> None:
    _, client = accounts
    _, token = await client.viewer()
    code = await code_for(client, caplog, token, "+8613800138003")
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for left in (4, 3, 2, 1):
        status, body = await client.sign_in(token, "+8613800138003", wrong)
        assert status == 400 and body["error"]["code"] == "wrong_code"
        assert f"{left} tries left" in body["error"]["message"]
    status, body = await client.sign_in(token, "+8613800138003", wrong)
    assert "burnt" in body["error"]["message"]
    status, body = await client.sign_in(token, "+8613800138003", code)
    assert status == 400 and body["error"]["code"] == "expired_code"


async def test_codes_are_limited_per_number_and_per_address(
        redis_url: str, caplog: pytest.LogCaptureFixture) -> None:
    env = {**PROXIED, "STALLCAST_ACCOUNTS_CODES_PER_PHONE": "2",
           "STALLCAST_ACCOUNTS_CODES_PER_ADDRESS": "3"}
    async with start_server(redis_url, env) as server, aiohttp.ClientSession() as http:
        here, there = Client(server.base, http, "198.51.100.7"), Client(
            server.base, http, "203.0.113.9")
        _, token = await here.viewer()
        for _ in range(2):
            assert (await here.ask_code(token, "+8613800138004"))[0] == 202
        # A third code to the number, from any address, waits.
        status, body, headers = await there.ask_code(token, "+8613800138004")
        assert status == 429 and body["error"]["code"] == "rate_limited"
        assert 1 <= int(headers["Retry-After"]) <= 600
        # One address asking for many numbers is stopped at its own budget.
        assert (await here.ask_code(token, "+8613800138005"))[0] == 202
        status, body, headers = await here.ask_code(token, "+8613800138006")
        assert status == 429 and int(headers["Retry-After"]) >= 1, body
        assert (await there.ask_code(token, "+8613800138006"))[0] == 202


async def test_bad_input_is_answered_400(accounts: tuple[Running, Client]) -> None:
    _, client = accounts
    _, token = await client.viewer()
    for phone in ("+86 138 0013 8\ud800", "+" + "1" * 40, "13800138000", "+0123456789",
                  "+1２３４５６７８９", 8613800138000, "+123"):
        status, body, _ = await client.ask_code(token, phone)  # type: ignore[arg-type]
        assert status == 400 and body["error"]["code"] in ("invalid_phone", "bad_json"), phone
    raw = b'{"phone": "+8613800\\udc00138"}'
    status, body, _ = await client.call("POST", "/api/account/code", token, data=raw)
    assert status == 400, body
    status, body, _ = await client.call("POST", "/api/account/code", token,
                                        data=b'{"phone": "' + b"9" * 4000 + b'"}')
    assert status in (400, 413), body
    status, body, _ = await client.call("POST", "/api/account/code", token,
                                        {"phone": "+8613800138000", "more": 1})
    assert status == 400
    for code in ("12345", "abcdef", 123456, "1234567"):
        status, body = await client.sign_in(token, "+8613800138000", code)  # type: ignore[arg-type]
        assert status == 400 and body["error"]["code"] == "invalid_code", code
    status, body, _ = await client.ask_code("v_0000.bad", "+8613800138000")
    assert status == 401


async def test_sign_in_on_a_second_device_merges_into_the_account(
        redis_url: str, caplog: pytest.LogCaptureFixture) -> None:
    phone = "+8613900139007"
    async with start_server(redis_url, PROXIED) as server, \
            start_server(redis_url, PROXIED) as other_node, \
            open_shop(server, in_room=True, per_buyer_limit=2) as shop:
        client = Client(server.base, shop.api.http)
        va, ta = await client.viewer()
        vb, tb = await client.viewer()

        async def buy(token: str, viewer_id: str, key: str) -> tuple[int, Any]:
            status, body, _ = await client.call(
                "POST", f"/api/rooms/{shop.rid}/buy", token,
                {"product_id": shop.pid, "quantity": 1, "idempotency_key": key,
                 "contact": contact_for(viewer_id)})
            return status, body

        assert (await buy(ta, va, "phone-a-1"))[0] == 201
        status, b_order = await buy(tb, vb, "phone-b-1")
        assert status == 201
        await server.ctx.sessions.grant(vb, "c_bought_on_b")
        assert (await client.call("PUT", "/api/me", tb, {"nickname": "Auntie Mei"}))[0] == 200
        await shop.api.ok("POST", f"/api/rooms/{shop.rid}/mutes", shop.host,
                          {"viewer_id": vb})
        status, body = await client.sign_in(ta, phone, await code_for(client, caplog, ta,
                                                                          phone))
        assert status == 200 and body["outcome"] == "new"

        watching = await watch(server.base, shop.rid, token=tb)  # B's page, still open
        try:
            assert await wait_for(lambda: watching.of("welcome"), 15)
            status, body = await client.sign_in(tb, phone, await code_for(client, caplog, tb,
                                                                              phone))
            assert status == 200, body
            # Its data channel is B's: a buy there is refused, not made for nobody.
            watching.channel.send(msgpack.packb({
                "type": "buy", "product_id": shop.pid, "quantity": 1, "ref": 1,
                "idempotency_key": "phone-b-late", "contact": contact_for(vb)}))
            assert await wait_for(lambda: [e for e in watching.events if e.get("ref") == 1], 10)
            late = [e for e in watching.events if e.get("ref") == 1][0]
            assert late["type"] == "error" and late["code"] == "merged", late
        finally:
            await watching.stop()
        assert body["viewer_id"] == va and body["outcome"] == "merge" and body["token"] == ta
        assert body["moved"]["orders"] == 1 and body["moved"]["classes"] >= 1
        orders = (await client.call("GET", "/api/me/orders", ta))[1]["orders"]
        assert len(orders) == 2
        assert b_order["order_id"] in {o["order_id"] for o in orders}
        moved = await server.ctx.commerce.get_order(b_order["order_id"])
        assert moved is not None and moved["buyer_id"] == va
        assert await server.ctx.sessions.entitled(va, "c_bought_on_b")
        me = (await client.call("GET", "/api/me", ta))[1]
        assert me["nickname"] == "Auntie Mei" and me["account"]["phone"].endswith("9007")
        # The old identity is gone: on this node at once, on another within seconds.
        status, body, headers = await client.call("GET", "/api/me/orders", tb)
        assert status == 401 and body["error"]["code"] == "merged"
        assert "invalid_token" in headers["WWW-Authenticate"]
        far = Client(other_node.base, shop.api.http)
        for _ in range(50):
            if (await far.call("GET", "/api/me", tb))[0] == 401:
                break
            await asyncio.sleep(0.1)
        assert (await far.call("GET", "/api/me", tb))[1]["error"]["code"] == "merged"
        # A retried buy of B's key replays B's order for the account.
        status, body = await buy(ta, va, "phone-b-1")
        assert status == 200 and body["order_id"] == b_order["order_id"]
        # The per-buyer limit (2) counts both devices' units now.
        status, body = await buy(ta, va, "phone-a-2")
        assert status == 409 and body["error"]["code"] == "limit", body
        # B was muted in the room: the account is too.
        status, body, _ = await client.call("POST", f"/api/rooms/{shop.rid}/chat", ta,
                                            {"text": "hello again"})
        assert status == 403 and body["error"]["code"] == "muted"
        # Signing in again from the merged page (as after a merge that failed half-way)
        # runs the merge again and answers the account, with nothing left to move.
        status, body = await client.sign_in(tb, phone, await code_for(client, caplog, tb,
                                                                          phone))
        assert status == 200 and body["outcome"] == "merge" and body["viewer_id"] == va
        assert body["moved"]["orders"] == 0
        # A device already signed in to one number cannot be merged into another.
        status, body = await client.sign_in(ta, "+8613900139008", await code_for(
            client, caplog, ta, "+8613900139008"))
        assert status == 409 and body["error"]["code"] == "conflict", body


async def test_webhook_provider_posts_to_the_gateway(redis_url: str,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    received: list[tuple[str, dict[str, Any]]] = []
    failing = False

    async def gateway(request: web.Request) -> web.Response:
        received.append((request.headers.get("Authorization", ""), await request.json()))
        return web.json_response({"ok": not failing}, status=500 if failing else 200)

    gw = web.Application()
    gw.router.add_post("/sms", gateway)
    runner = web.AppRunner(gw)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    env = {**PROXIED, "STALLCAST_ACCOUNTS_SMS_PROVIDER": "webhook",
           "STALLCAST_ACCOUNTS_SMS_WEBHOOK_URL": f"http://127.0.0.1:{port}/sms",
           "STALLCAST_ACCOUNTS_SMS_WEBHOOK_SECRET": "gateway-shared-secret"}
    try:
        async with start_server(redis_url, env) as server, aiohttp.ClientSession() as http:
            client = Client(server.base, http)
            vid, token = await client.viewer()
            status, body, _ = await client.ask_code(token, "+81 90 1234 5678")
            assert status == 202, body
            auth, sms = received[-1]
            assert auth == "Bearer gateway-shared-secret"
            assert sms["phone"] == "+819012345678" and sms["code"] in sms["text"]
            assert len(sms["code"]) == 6 and sms["code"].isdigit()
            assert not [line for line in log_lines(caplog) if sms["code"] in line]
            status, body = await client.sign_in(token, "+819012345678", sms["code"])
            assert status == 200 and body["viewer_id"] == vid
            failing = True
            status, body, headers = await client.ask_code(token, "+819012345679")
            assert status == 503 and body["error"]["code"] == "sms_unavailable"
            assert headers["Retry-After"]
    finally:
        await runner.cleanup()
