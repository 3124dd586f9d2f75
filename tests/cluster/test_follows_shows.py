"""Follows, scheduled shows, channels and reminders against real Redis and real servers:
follow and its cap, schedule validation, repeats rolling forward, the .ics file, channels
only operators set, live-then-upcoming ranking, one reminder per viewer per show however
many times or nodes see the host go live, the webhook provider against a real
receiver, and nobody skipped when followers leave during the walk."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from helpers.servers import Running, free_port, start_server
from helpers.shop import Api
from server.accounts.follows import START
from server.accounts.shows import next_occurrence
from server.live.node import NODE
from server.live.reminders import AUDIENCE

DAY = 86400.0


@pytest.fixture
async def api(server: Running) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as http:
        yield Api(server.base, http)


async def viewer(api: Api) -> str:
    return str((await api.ok("POST", "/api/viewers"))["token"])


async def schedule(api: Api, host: str, room_id: str, **fields: Any) -> dict[str, Any]:
    body = {"room_id": room_id, "title": "Lychee harvest", "starts_at": time.time() + 3600,
            **fields}
    status, made = await api.call("POST", "/api/shows", host, body)
    assert status == 201, made
    return dict(made)


async def test_follow_unfollow_list_and_cap(redis_url: str) -> None:
    env = {"STALLCAST_REMINDERS_FOLLOWS_PER_VIEWER": "2"}
    async with start_server(redis_url, env) as server, aiohttp.ClientSession() as http:
        api = Api(server.base, http)
        hosts = [await server.new_host(f"Farm {i}") for i in range(3)]
        fan = await viewer(api)
        assert (await api.call("POST", f"/api/hosts/{hosts[0][0]}/follow"))[0] == 401
        assert (await api.call("POST", "/api/hosts/h_nobody/follow", fan))[0] == 404
        first = await api.ok("POST", f"/api/hosts/{hosts[0][0]}/follow", fan)
        assert first == {"host_id": hosts[0][0], "following": True, "followers": 1}
        again = await api.ok("POST", f"/api/hosts/{hosts[0][0]}/follow", fan)
        assert again["followers"] == 1  # following twice is following once
        await api.ok("POST", f"/api/hosts/{hosts[1][0]}/follow", fan)
        status, over = await api.call("POST", f"/api/hosts/{hosts[2][0]}/follow", fan)
        assert status == 409 and over["error"]["code"] == "limit"
        mine = await api.ok("GET", "/api/me/follows", fan)
        assert [f["host_id"] for f in mine["follows"]] == [hosts[1][0], hosts[0][0]]
        assert mine["follows"][0]["name"] == "Farm 1"
        studio = await api.ok("GET", "/api/host/audience", hosts[0][1])
        assert studio["followers"] == 1
        room = (await server.new_room(hosts[0][1]))["room_id"]
        on_page = await api.ok("GET", f"/api/rooms/{room}/host", fan)  # the watch page's
        assert on_page == {"host_id": hosts[0][0], "name": "Farm 0", "followers": 1,
                           "following": True}
        assert "following" not in await api.ok("GET", f"/api/rooms/{room}/host")
        assert (await api.call("GET", "/api/rooms/r_000000000000/host"))[0] == 404
        gone = await api.ok("DELETE", f"/api/hosts/{hosts[0][0]}/follow", fan)
        assert gone == {"host_id": hosts[0][0], "following": False, "followers": 0}
        await api.ok("POST", f"/api/hosts/{hosts[2][0]}/follow", fan)  # room under the cap
        assert (await api.call("GET", "/api/host/audience", fan))[0] == 401


async def test_schedule_validation_and_caps(redis_url: str) -> None:
    env = {"STALLCAST_REMINDERS_SHOWS_PER_HOST": "2"}
    async with start_server(redis_url, env) as server, aiohttp.ClientSession() as http:
        api = Api(server.base, http)
        _, host = await server.new_host()
        _, other = await server.new_host("Other farm")
        room = (await server.new_room(host))["room_id"]
        theirs = await api.product(other)
        now = time.time()
        bad: list[dict[str, Any]] = [
            {"starts_at": now - 60}, {"starts_at": now + 400 * DAY}, {"starts_at": "soon"},
            {"starts_at": True}, {"title": ""}, {"title": "x" * 121}, {"repeat": "hourly"},
            {"category": "no-such-channel"}, {"product_ids": [theirs["product_id"]]},
            {"product_ids": ["p_1"] * 2}, {"cover": "javascript:alert(1)"}, {"colour": "red"},
        ]
        for fields in bad:
            status, body = await api.call("POST", "/api/shows", host, {
                "room_id": room, "title": "Mangoes", "starts_at": now + 600, **fields})
            assert status == 400, (fields, body)
            assert body["error"]["message"], fields
        raw = (b'{"room_id": "%s", "title": "Mango \\ud800", "starts_at": %d}'
               % (room.encode(), int(now + 600)))
        async with http.post(f"{server.base}/api/shows", data=raw, headers={
                "Authorization": f"Bearer {host}", "Content-Type": "application/json"}) as resp:
            assert resp.status == 400  # a lone surrogate is refused, not stored
        assert (await api.call("POST", "/api/shows", other, {
            "room_id": room, "title": "Mine now", "starts_at": now + 600}))[0] == 403
        assert (await api.call("POST", "/api/shows", None, {}))[0] == 401
        status, _ = await api.call("POST", "/api/shows", host, {  # someone else's upload
            "room_id": room, "title": "Mangoes", "starts_at": now + 600,
            "cover": "/uploads/i_" + "0" * 24 + "-card.jpg"})
        assert status == 403
        made = await schedule(api, host, room, cover="https://cdn.example/mango.jpg")
        assert made["next_at"] == made["starts_at"] and made["repeat"] == "none"
        await asyncio.sleep(2.1)  # the listing cache
        listed = (await api.ok("GET", "/api/shows"))["upcoming"]
        assert [(s["show_id"], s["thumb"]) for s in listed] == [
            (made["show_id"], "https://cdn.example/mango.jpg")]
        status, _ = await api.call("PATCH", f"/api/shows/{made['show_id']}", other,
                                   {"title": "Taken"})
        assert status == 403
        await schedule(api, host, room)
        status, body = await api.call("POST", "/api/shows", host, {
            "room_id": room, "title": "Third", "starts_at": now + 600})
        assert status == 409 and body["error"]["code"] == "limit"
        assert (await api.call("DELETE", f"/api/shows/{made['show_id']}", host))[0] == 204
        assert (await api.call("GET", f"/api/shows/{made['show_id']}"))[0] == 404
        await schedule(api, host, room)  # a removed show frees its place


async def test_repeats_roll_forward_to_the_next_occurrence(server: Running, api: Api) -> None:
    start = 1_700_000_000.0
    assert next_occurrence(start, "none", start - 10) == start
    assert next_occurrence(start, "none", start + 2 * 3600) is None  # past its grace
    assert next_occurrence(start, "daily", start + 3 * DAY + 7200) == start + 4 * DAY
    assert next_occurrence(start, "weekly", start + 8 * DAY) == start + 14 * DAY
    assert next_occurrence(start, "daily", start + 600, after=start) == start + DAY
    _, host = await server.new_host()
    room = (await server.new_room(host))["room_id"]
    daily = await schedule(api, host, room, repeat="daily", title="Morning market")
    once = await schedule(api, host, room, title="One-off")
    # Time passes: both were first due two days ago (as if written then).
    redis = server.ctx.redis
    past = time.time() - 2 * DAY - 3 * 3600
    for show in (daily, once):
        await redis.hset(f"show:{show['show_id']}", "starts_at", repr(past))
        await redis.zadd("shows:scheduled", {show["show_id"]: past})
    await asyncio.sleep(2.1)  # the listing cache
    shows = await api.ok("GET", "/api/shows")
    listed = {s["show_id"]: s for s in shows["upcoming"]}
    assert once["show_id"] not in listed
    assert listed[daily["show_id"]]["starts_at"] == pytest.approx(past + 3 * DAY)
    page = await api.ok("GET", f"/api/shows/{daily['show_id']}")
    assert page["next_at"] == pytest.approx(past + 3 * DAY) and page["live"] is False


async def test_calendar_file_is_rfc5545(server: Running, api: Api) -> None:
    _, host = await server.new_host("Ōsaka, Pickles; & \\ Co")
    room = (await server.new_room(host))["room_id"]
    at = float(int(time.time()) + 7200)
    title = "Umeboshi, miso; natto\\tasting " + "漬物の作り方を一緒に学びましょう" * 3
    show = await schedule(api, host, room, repeat="weekly", title=title, starts_at=at)
    async with api.http.get(f"{server.base}/api/shows/{show['show_id']}/calendar.ics") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/calendar")
        raw = await resp.read()
    assert raw.endswith(b"\r\n") and b"\n" not in raw.replace(b"\r\n", b"")
    lines = raw.split(b"\r\n")[:-1]
    assert all(len(line) <= 75 for line in lines)
    text = raw.decode()  # folds never split a UTF-8 character
    unfolded = re.sub(r"\r\n ", "", text).split("\r\n")
    assert unfolded[:2] == ["BEGIN:VCALENDAR", "VERSION:2.0"]
    assert unfolded[-2:] == ["END:VCALENDAR", ""]
    fields = dict(line.split(":", 1) for line in unfolded if ":" in line)
    assert fields["UID"] == f"{show['show_id']}@127.0.0.1"
    assert fields["DTSTART"] == time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(at))
    assert re.fullmatch(r"\d{8}T\d{6}Z", fields["DTSTAMP"])
    assert fields["RRULE"] == "FREQ=WEEKLY"
    assert fields["SUMMARY"] == ("Umeboshi\\, miso\\; natto\\\\tasting " + "漬物の作り方を一緒に"
                                 "学びましょう" * 3 + " (Ōsaka\\, Pickles\\; & \\\\ Co)")
    assert fields["URL"] == f"{server.base}/shows/{show['show_id']}"
    once = await schedule(api, host, room)
    async with api.http.get(f"{server.base}/api/shows/{once['show_id']}/calendar.ics") as resp:
        assert "RRULE" not in await resp.text()
    assert (await api.call("GET", "/api/shows/sh_000000000000/calendar.ics"))[0] == 404


async def test_channels_only_operators_set(server: Running, api: Api) -> None:
    operator = await server.new_operator()
    _, host = await server.new_host()
    fan = await viewer(api)
    body = {"slug": "fresh-produce", "name": "Fresh produce"}
    assert (await api.call("POST", "/api/channels", None, body))[0] == 401
    assert (await api.call("POST", "/api/channels", "nonsense", body))[0] == 401
    assert (await api.call("POST", "/api/channels", host, body))[0] == 403
    assert (await api.call("POST", "/api/channels", fan, body))[0] == 403
    made = await api.ok("POST", "/api/channels", operator, body)
    assert made["slug"] == "fresh-produce" and made["name"] == "Fresh produce"
    assert (await api.call("POST", "/api/channels", operator, body))[0] == 409
    for slug in ("Fresh", "-x", "a" * 41, "exam prep", "x\ud800"):
        status, _ = await api.call("POST", "/api/channels", operator,
                                   {"slug": slug, "name": "Bad"})
        assert status == 400, slug
    assert (await api.call("POST", "/api/channels", operator,
                           {"slug": "crafts", "name": "\u202eevil"}))[0] == 400
    await api.ok("POST", "/api/channels", operator, {"slug": "exam-prep", "name": "Exam prep"})
    assert (await api.call("PATCH", "/api/channels/exam-prep", host, {"name": "X"}))[0] == 403
    renamed = await api.ok("PATCH", "/api/channels/exam-prep", operator,
                           {"name": "Exam preparation"})
    assert renamed["name"] == "Exam preparation"
    assert (await api.call("PATCH", "/api/channels/nope", operator, {"name": "X"}))[0] == 404
    listed = await api.ok("GET", "/api/channels")
    assert [c["slug"] for c in listed["channels"]] == ["fresh-produce", "exam-prep"]
    assert (await api.call("DELETE", "/api/channels/exam-prep", host))[0] == 403
    assert (await api.call("DELETE", "/api/channels/exam-prep", operator))[0] == 204
    assert (await api.call("DELETE", "/api/channels/exam-prep", operator))[0] == 404
    assert (await api.call("GET", "/api/channels/exam-prep"))[0] == 404


async def _on_air(server: Running, room: dict[str, Any]) -> None:
    """The room live as a publishing node records it: a live session and the room's claim."""
    await server.ctx.sessions.start(room["room_id"], room["host_id"], room["title"], "", "vp8",
                                    node="n_other")
    await server.ctx.redis.set(f"room:{room['room_id']}:live", "n_other", ex=60)


async def test_live_shows_first_ranked_by_follows_then_upcoming(server: Running,
                                                                api: Api) -> None:
    operator = await server.new_operator()
    await api.ok("POST", "/api/channels", operator, {"slug": "fruit", "name": "Fruit"})
    rooms = []
    for name in ("Quiet farm", "Loved farm", "Later farm"):
        host_id, token = await server.new_host(name)
        room = await server.new_room(token, f"{name} live")
        rooms.append({**room, "token": token, "host_id": host_id})
    quiet, loved, later = rooms
    for _ in range(3):
        await api.ok("POST", f"/api/hosts/{loved['host_id']}/follow", await viewer(api))
    now = time.time()
    in_fruit = await schedule(api, loved["token"], loved["room_id"], category="fruit",
                              starts_at=now + 300, title="Lychees now")
    coming = await schedule(api, later["token"], later["room_id"], category="fruit",
                            starts_at=now + 5 * 3600, title="Durian tonight")
    await _on_air(server, quiet)
    await _on_air(server, loved)
    await asyncio.sleep(2.1)  # the listing cache
    shows = await api.ok("GET", "/api/shows")
    assert [s["room_id"] for s in shows["live"]] == [loved["room_id"], quiet["room_id"]]
    assert shows["live"][0]["followers"] == 3 and shows["live"][0]["title"] == "Lychees now"
    assert [s["show_id"] for s in shows["upcoming"]] == [coming["show_id"]]
    channel = await api.ok("GET", "/api/channels/fruit")
    assert channel["channel"]["name"] == "Fruit"
    assert [s["show_id"] for s in channel["live"]] == [in_fruit["show_id"]]
    assert [s["show_id"] for s in channel["upcoming"]] == [coming["show_id"]]
    assert channel["upcoming"][0]["show_url"] == f"{server.base}/shows/{coming['show_id']}"


async def test_one_reminder_per_viewer_per_show_across_nodes(redis_url: str) -> None:
    env = {"STALLCAST_REMINDERS_BATCH_SIZE": "2"}  # several batches of followers
    async with start_server(redis_url, env) as one, start_server(redis_url, env) as two, \
            aiohttp.ClientSession() as http:
        api = Api(one.base, http)
        host_id, host = await one.new_host("Lychee grove")
        room = (await one.new_room(host))["room_id"]
        show = await schedule(api, host, room, starts_at=time.time() + 600)
        fans = [await viewer(api) for _ in range(5)]
        asker, stranger = await viewer(api), await viewer(api)
        for fan in fans:
            await api.ok("POST", f"/api/hosts/{host_id}/follow", fan)
        await api.ok("POST", f"/api/shows/{show['show_id']}/remind", fans[0])  # both lists
        await api.ok("POST", f"/api/shows/{show['show_id']}/remind", asker)
        assert (await api.ok("GET", f"/api/shows/{show['show_id']}", asker))["asked"] is True
        # The host goes live on node one (its announcement, as the media plane makes it)
        # while node two is told too, and then the host goes live again.
        one.app[NODE].announce(room, {"type": "host_live", "session_id": "x"})
        counts = await asyncio.gather(*(two.app[AUDIENCE].reminders.room_live(room)
                                        for _ in range(3)))
        reminders_one = one.app[AUDIENCE].reminders
        for _ in range(100):
            if room not in reminders_one._running:
                break
            await asyncio.sleep(0.05)
        counts.append(await reminders_one.room_live(room))
        status = await api.ok("GET", "/api/host/audience", host)
        assert status["shows"][0]["reminded"] == 6, (counts, status)
        for token in [*fans, asker]:
            got = (await api.ok("GET", "/api/me/reminders", token))["reminders"]
            assert len(got) == 1 and got[0]["show_id"] == show["show_id"]
            assert got[0]["watch_url"] == f"/watch/{room}?from=reminder&show={show['show_id']}"
            await api.ok("POST", "/api/me/reminders/seen", token, {"ids": [got[0]["id"]]})
            assert (await api.ok("GET", "/api/me/reminders", token))["reminders"] == []
        assert (await api.ok("GET", "/api/me/reminders", stranger))["reminders"] == []
        assert (await api.call("POST", "/api/me/reminders/seen", stranger,
                               {"ids": "all"}))[0] == 400
    async with start_server(redis_url, env) as three, aiohttp.ClientSession() as http:
        api = Api(three.base, http)  # a restarted node: nobody is reminded again
        assert await three.app[AUDIENCE].reminders.room_live(room) == 0
        assert (await api.ok("GET", "/api/me/reminders", fans[1]))["reminders"] == []
        arrive = f"/api/shows/{show['show_id']}/arrivals"
        assert (await api.ok("POST", arrive, fans[1]))["counted"] is True
        assert (await api.ok("POST", arrive, fans[1]))["counted"] is False  # once
        assert (await api.ok("POST", arrive, stranger))["counted"] is False  # not reminded
        studio = await api.ok("GET", "/api/host/audience", host)
        assert studio["followers"] == 5
        assert studio["shows"][0]["reminded"] == 6 and studio["shows"][0]["from_reminders"] == 1


async def test_merge_moves_follows_and_asks(server: Running, api: Api) -> None:
    host_id, host = await server.new_host()
    room = (await server.new_room(host))["room_id"]
    show = await schedule(api, host, room)
    anon, account = await viewer(api), await viewer(api)
    await api.ok("POST", f"/api/hosts/{host_id}/follow", anon)
    await api.ok("POST", f"/api/shows/{show['show_id']}/remind", anon)
    from_id, to_id = (server.ctx.viewers.verify(t) for t in (anon, account))
    assert from_id and to_id
    follows = server.app[AUDIENCE].follows
    assert await follows.merge(from_id, to_id) == 2
    assert await follows.merge(from_id, to_id) == 0  # safe to run twice
    assert (await api.ok("GET", "/api/me/follows", account))["follows"][0]["host_id"] == host_id
    assert (await api.ok("GET", "/api/me/follows", anon))["follows"] == []
    assert (await api.ok("GET", f"/api/shows/{show['show_id']}", account))["asked"] is True
    assert (await follows.followers(host_id, START, 10))[1] == [to_id]


@contextlib.asynccontextmanager
async def gateway(receive: Callable[[web.Request], Awaitable[web.Response]],
                  **env: str) -> AsyncIterator[dict[str, str]]:
    """A real HTTP receiver for the webhook provider: the server env that points at it."""
    receiver = web.Application()
    receiver.router.add_post("/notify", receive)
    runner = web.AppRunner(receiver)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield {"STALLCAST_REMINDERS_PROVIDER": "webhook",
               "STALLCAST_REMINDERS_WEBHOOK_URL": f"http://127.0.0.1:{port}/notify", **env}
    finally:
        await runner.cleanup()


async def test_webhook_provider_gets_each_reminder_once(redis_url: str) -> None:
    got: list[tuple[str, list[dict[str, Any]]]] = []

    async def receive(request: web.Request) -> web.Response:
        got.append((request.headers.get("Authorization", ""),
                    json.loads(await request.read())["reminders"]))
        return web.json_response({"ok": True})

    async with gateway(receive, STALLCAST_REMINDERS_WEBHOOK_SECRET="gateway-secret",
                       STALLCAST_REMINDERS_BATCH_SIZE="3") as env, \
            start_server(redis_url, env) as server, aiohttp.ClientSession() as http:
        api = Api(server.base, http)
        host_id, host = await server.new_host("Tea garden")
        room = (await server.new_room(host, "Oolong"))["room_id"]
        fans = [await viewer(api) for _ in range(7)]
        for fan in fans:
            await api.ok("POST", f"/api/hosts/{host_id}/follow", fan)
        reminders = server.app[AUDIENCE].reminders
        assert await reminders.room_live(room) == 7  # no show scheduled: the room's day
        assert await reminders.room_live(room) == 0
    assert [len(batch) for _, batch in got] == [3, 3, 1]
    assert {auth for auth, _ in got} == {"Bearer gateway-secret"}
    sent = [r for _, batch in got for r in batch]
    ids = {server.ctx.viewers.verify(f) for f in fans}
    assert {r["viewer_id"] for r in sent} == ids and len(sent) == 7
    assert all(r["room_id"] == room and r["title"] == "Oolong" and r["host_name"] ==
               "Tea garden" and r["watch_url"].endswith(f"/watch/{room}?from=reminder")
               for r in sent)


async def test_unfollowing_during_a_walk_skips_nobody(redis_url: str) -> None:
    """Each host's followers are walked two at a time; while the gateway takes the first
    batch, followers leave (and one comes back): everyone who stayed is still reminded."""
    tokens: dict[str, str] = {}  # viewer id -> token
    acts: dict[str, tuple[str, str]] = {}  # room id -> (what happens in its first batch, host)
    got: dict[str, list[str]] = {}  # room id -> viewer ids the gateway heard of
    base = ""

    async def receive(request: web.Request) -> web.Response:
        batch = json.loads(await request.read())["reminders"]
        room, ids = batch[0]["room_id"], [r["viewer_id"] for r in batch]
        first = room not in got
        got.setdefault(room, []).extend(ids)
        if first:
            act, host = acts[room]
            leaver = ids[0] if act == "first leaves" else ids[-1]
            async with aiohttp.ClientSession() as http:
                api = Api(base, http)
                await api.ok("DELETE", f"/api/hosts/{host}/follow", tokens[leaver])
                if act == "last walked leaves and comes back":
                    await api.ok("POST", f"/api/hosts/{host}/follow", tokens[leaver])
        return web.json_response({"ok": True})

    async with gateway(receive, STALLCAST_REMINDERS_BATCH_SIZE="2") as env, \
            start_server(redis_url, env) as server, aiohttp.ClientSession() as http:
        base = server.base
        api = Api(server.base, http)
        cases = ("first leaves", "last walked leaves", "last walked leaves and comes back",
                 "last walked leaves, all followed at once")
        fans: dict[str, set[str]] = {}
        for act in cases:
            host_id, host = await server.new_host(act)
            room = (await server.new_room(host))["room_id"]
            acts[room] = (act, host_id)
            fans[room] = set()
            for _ in range(5):
                token = await viewer(api)
                vid = server.ctx.viewers.verify(token)
                assert vid
                tokens[vid] = token
                fans[room].add(vid)
                await api.ok("POST", f"/api/hosts/{host_id}/follow", token)
            if act.endswith("all followed at once"):  # ties: the zset orders them by id
                await server.ctx.redis.zadd(f"host:{host_id}:followers",
                                            dict.fromkeys(fans[room], 1.5e9), xx=True)
            reminded = await server.app[AUDIENCE].reminders.room_live(room)
            assert reminded == 5, (act, reminded)
            assert set(got[room]) == fans[room], act
