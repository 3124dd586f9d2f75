"""The host's hold on chat and the viewer's name in it: nicknames, host messages, a pinned
message, mutes that an unmute lifts whole (identity and address), a keyword filter folded
for case and width, and host routes closed to viewers."""

from __future__ import annotations

from typing import Any

import aiohttp
import msgpack

from helpers.clients import wait_for, watch
from helpers.servers import Running, start_server
from helpers.shop import Api

SURROGATE = '"\\ud800"'
ENV = {"STALLCAST_COMMERCE_CHAT_FILTER_MAX_WORDS": "5"}


async def _viewer(api: Api) -> tuple[str, str]:
    made = await api.ok("POST", "/api/viewers")
    return made["viewer_id"], made["token"]


async def _raw(api: Api, method: str, path: str, token: str, raw: str) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    async with api.http.request(method, api.base + path, data=raw.encode(),
                                headers=headers) as resp:
        return resp.status, await resp.json()


async def test_nicknames_and_host_messages(server: Running) -> None:
    _, host = await server.new_host("Mango farm")
    _, other_host = await server.new_host("Other farm")
    room = await server.new_room(host)
    rid = room["room_id"]
    async with aiohttp.ClientSession() as http:
        api = Api(server.base, http)
        vid, viewer = await _viewer(api)
        assert (await api.ok("GET", "/api/me", viewer))["nickname"] == ""
        assert await api.ok("PUT", "/api/me", viewer, {"nickname": "  Mango fan "}) == {
            "viewer_id": vid, "nickname": "Mango fan"}
        assert (await api.ok("GET", "/api/me", viewer))["nickname"] == "Mango fan"
        first = await api.ok("POST", f"/api/rooms/{rid}/chat", viewer, {"text": "hello"})
        assert (first["name"], first["role"], first["viewer_id"]) == ("Mango fan", "viewer", vid)
        # A name on a chat message becomes the nickname too.
        await api.ok("POST", f"/api/rooms/{rid}/chat", viewer, {"text": "hi", "name": "Wei"})
        assert (await api.ok("GET", "/api/me", viewer))["nickname"] == "Wei"
        said = await api.ok("POST", f"/api/rooms/{rid}/chat", host, {"text": "Welcome!"})
        assert (said["role"], said["name"], said["viewer_id"]) == ("host", "Mango farm", None)
        state = await api.ok("GET", f"/api/rooms/{rid}/state")
        assert [(m["name"], m["role"]) for m in state["chat"]] == [
            ("Mango fan", "viewer"), ("Wei", "viewer"), ("Mango farm", "host")]

        status, body = await api.call("POST", f"/api/rooms/{rid}/chat", other_host,
                                      {"text": "not my room"})
        assert status == 403 and body["error"]["code"] == "forbidden"
        status, body = await api.call("POST", f"/api/rooms/{rid}/chat", "made-up", {"text": "x"})
        assert status == 401
        status, body = await api.call("POST", f"/api/rooms/{rid}/chat", host, {"text": "x" * 301})
        assert status == 400 and body["error"]["code"] == "too_long"
        for bad in ("", "   ", "x" * 25, 7, None, "a\x00b"):
            status, body = await api.call("PUT", "/api/me", viewer, {"nickname": bad})
            assert status == 400 and body["error"]["code"] == "invalid", bad
        status, _ = await api.call("PUT", "/api/me", viewer, {"nickname": "ok", "extra": 1})
        assert status == 400
        status, body = await _raw(api, "PUT", "/api/me", viewer, '{"nickname": ' + SURROGATE + "}")
        assert status == 400 and body["error"]["code"] == "bad_json"
        assert (await api.ok("GET", "/api/me", viewer))["nickname"] == "Wei"


async def test_pin_unmute_and_filter_reach_the_data_channel(server: Running) -> None:
    _, host = await server.new_host()
    room = await server.new_room(host)
    rid = room["room_id"]
    async with aiohttp.ClientSession() as http:
        api = Api(server.base, http)
        vid, token = await _viewer(api)
        viewer = await watch(server.base, rid, token=token)
        try:
            assert await wait_for(lambda: viewer.of("welcome"), 15)
            assert viewer.of("welcome")[0]["snapshot"]["pinned_message"] is None
            said = await api.ok("POST", f"/api/rooms/{rid}/chat", token, {"text": "how much?"})
            pinned = await api.ok("PUT", f"/api/rooms/{rid}/chat/pin", host,
                                  {"message_id": said["message_id"]})
            assert pinned["message"]["text"] == "how much?"
            assert await wait_for(lambda: viewer.of("chat_pinned"), 10)
            assert viewer.of("chat_pinned")[0]["message"]["message_id"] == said["message_id"]
            note = await api.ok("PUT", f"/api/rooms/{rid}/chat/pin", host, {"text": "Ships Fri"})
            assert note["message"]["role"] == "host"
            state = await api.ok("GET", f"/api/rooms/{rid}/state")
            assert state["pinned_message"]["text"] == "Ships Fri"
            await api.ok("DELETE", f"/api/rooms/{rid}/chat/pin", host)
            assert await wait_for(lambda: viewer.of("chat_unpinned"), 10)
            assert (await api.ok("GET", f"/api/rooms/{rid}/state"))["pinned_message"] is None
            status, _ = await api.call("PUT", f"/api/rooms/{rid}/chat/pin", host,
                                       {"message_id": "m_nothere"})
            assert status == 404

            await api.ok("POST", f"/api/rooms/{rid}/mutes", host, {"viewer_id": vid})
            await api.ok("DELETE", f"/api/rooms/{rid}/mutes/{vid}", host)
            assert await wait_for(lambda: viewer.of("viewer_unmuted"), 10)
            assert viewer.of("viewer_unmuted")[0]["viewer_id"] == vid

            await api.ok("PUT", f"/api/rooms/{rid}/chat/filter", host, {"words": ["scam"]})
            viewer.channel.send(msgpack.packb({"type": "chat", "text": "a ＳＣＡＭ", "ref": 9}))
            assert await wait_for(lambda: viewer.of("error"), 10)
            assert viewer.of("error")[0]["code"] == "filtered"
            assert viewer.of("error")[0]["ref"] == 9
        finally:
            await viewer.stop()


async def test_unmute_lifts_identity_and_address(server: Running) -> None:
    _, host = await server.new_host()
    rid = (await server.new_room(host))["room_id"]
    async with aiohttp.ClientSession() as http:
        api = Api(server.base, http)
        vid, muted = await _viewer(api)
        await api.ok("PUT", "/api/me", muted, {"nickname": "Loud"})
        await api.ok("POST", f"/api/rooms/{rid}/chat", muted, {"text": "BUY MY STUFF"})
        await api.ok("POST", f"/api/rooms/{rid}/mutes", host, {"viewer_id": vid})
        status, body = await api.call("POST", f"/api/rooms/{rid}/chat", muted, {"text": "again"})
        assert status == 403 and body["error"]["code"] == "muted"
        # A fresh identity from the same address is muted too: the mute holds the address.
        _, fresh = await _viewer(api)
        status, body = await api.call("POST", f"/api/rooms/{rid}/chat", fresh, {"text": "me"})
        assert status == 403 and body["error"]["code"] == "muted"
        mutes = (await api.ok("GET", f"/api/rooms/{rid}/mutes", host))["mutes"]
        assert mutes == [{"viewer_id": vid, "name": "Loud", "until": None}]

        await api.ok("DELETE", f"/api/rooms/{rid}/mutes/{vid}", host)
        assert (await api.ok("GET", f"/api/rooms/{rid}/mutes", host))["mutes"] == []
        await api.ok("POST", f"/api/rooms/{rid}/chat", muted, {"text": "sorry"})
        await api.ok("POST", f"/api/rooms/{rid}/chat", fresh, {"text": "hello"})
        # Unmuting again is harmless; a malformed id is refused.
        await api.ok("DELETE", f"/api/rooms/{rid}/mutes/{vid}", host)
        status, _ = await api.call("DELETE", f"/api/rooms/{rid}/mutes/nobody", host)
        assert status == 400


async def test_keyword_filter_folds_case_and_width(redis_url: str) -> None:
    async with start_server(redis_url, ENV) as server, aiohttp.ClientSession() as http:
        api = Api(server.base, http)
        _, host = await server.new_host()
        rid = (await server.new_room(host))["room_id"]
        _, viewer = await _viewer(api)
        assert await api.ok("GET", f"/api/rooms/{rid}/chat/filter", host) == {"words": []}
        kept = await api.ok("PUT", f"/api/rooms/{rid}/chat/filter", host,
                            {"words": ["Scam", "ｂａｄ", "SCAM", "假货"]})
        assert kept == {"words": ["Scam", "ｂａｄ", "假货"]}
        assert await api.ok("GET", f"/api/rooms/{rid}/chat/filter", host) == kept
        for text in ("total scam!", "ＳＣＡＭ", "a BAD deal", "这是假货"):
            status, body = await api.call("POST", f"/api/rooms/{rid}/chat", viewer,
                                          {"text": text})
            assert status == 400 and body["error"]["code"] == "filtered", text
        await api.ok("POST", f"/api/rooms/{rid}/chat", viewer, {"text": "sweet mangoes"})
        # The host's own words are not filtered.
        await api.ok("POST", f"/api/rooms/{rid}/chat", host, {"text": "no scam here"})

        for words in (["a", "b", "c", "d", "e", "f"], ["x" * 41], "scam", [""], [3]):
            status, body = await api.call("PUT", f"/api/rooms/{rid}/chat/filter", host,
                                          {"words": words})
            assert status == 400 and body["error"]["code"] == "invalid", words
        status, body = await _raw(api, "PUT", f"/api/rooms/{rid}/chat/filter", host,
                                  '{"words": [' + SURROGATE + "]}")
        assert status == 400
        assert await api.ok("GET", f"/api/rooms/{rid}/chat/filter", host) == kept
        await api.ok("PUT", f"/api/rooms/{rid}/chat/filter", host, {"words": []})
        await api.ok("POST", f"/api/rooms/{rid}/chat", viewer, {"text": "scam?"})


async def test_host_routes_refuse_viewers_and_other_hosts(server: Running) -> None:
    _, host = await server.new_host()
    _, other = await server.new_host("Other")
    rid = (await server.new_room(host))["room_id"]
    async with aiohttp.ClientSession() as http:
        api = Api(server.base, http)
        vid, viewer = await _viewer(api)
        calls: list[tuple[str, str, Any]] = [
            ("PUT", f"/api/rooms/{rid}/chat/pin", {"text": "hi"}),
            ("DELETE", f"/api/rooms/{rid}/chat/pin", None),
            ("GET", f"/api/rooms/{rid}/chat/filter", None),
            ("PUT", f"/api/rooms/{rid}/chat/filter", {"words": ["x"]}),
            ("GET", f"/api/rooms/{rid}/mutes", None),
            ("POST", f"/api/rooms/{rid}/mutes", {"viewer_id": vid}),
            ("DELETE", f"/api/rooms/{rid}/mutes/{vid}", None),
        ]
        for method, path, body in calls:
            status, _ = await api.call(method, path, viewer, body)
            assert status == 401, (method, path, status)
            status, _ = await api.call(method, path, other, body)
            assert status == 403, (method, path, status)
