"""A room event goes to every viewer's data channel as the same bytes, packed once, with no
task per viewer (media/datachannel.py writes it onto each SCTP association directly), in
order on each channel; a viewer that stops acknowledging cannot make the server hold more
than the channel cap for it, and the others carry on."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp
import msgpack
import pytest

from helpers.clients import Viewer, wait_for, watch
from helpers.servers import Running
from helpers.shop import Api
from media import datachannel
from media.router import Router

VIEWERS = 6


def record_raw(viewer: Viewer) -> list[bytes]:
    raw: list[bytes] = []
    viewer.channel.on("message", raw.append)
    return raw


class TaskCounter:
    """Counts the tasks the event loop creates while it is installed."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.created = 0
        self._previous: Any = None

    def __enter__(self) -> TaskCounter:
        self._previous = self.loop.get_task_factory()
        previous: Callable[..., Any] | None = self._previous

        def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> Any:
            self.created += 1
            if previous is not None:
                return previous(loop, coro, **kwargs)
            return asyncio.Task(coro, loop=loop, **kwargs)

        self.loop.set_task_factory(factory)
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.set_task_factory(self._previous)


async def _room_with_viewers(server: Running, http: aiohttp.ClientSession,
                             count: int) -> tuple[str, Router, list[Viewer], str]:
    """A room without a publisher and ``count`` viewers welcomed on it; the first is an
    identified viewer (its id is returned), the rest anonymous."""
    _, host = await server.new_host()
    room_id = (await server.new_room(host))["room_id"]
    viewer_id, token = await Api(server.base, http).viewer()
    viewers = [await watch(server.base, room_id, token=token if i == 0 else None)
               for i in range(count)]
    assert await wait_for(lambda: all(v.of("welcome") for v in viewers), 30)
    return room_id, server.ctx.sfu.routers[room_id], viewers, viewer_id


async def test_an_event_is_packed_once_and_sent_without_a_task_per_viewer(
        server: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    async with aiohttp.ClientSession() as http:
        room_id, router, viewers, viewer_id = await _room_with_viewers(server, http, VIEWERS)
        try:
            raws = [record_raw(v) for v in viewers]
            packs = 0
            real_packb = msgpack.packb

            def counting_packb(obj: Any, **kwargs: Any) -> Any:
                nonlocal packs
                packs += 1
                return real_packb(obj, **kwargs)

            monkeypatch.setattr(msgpack, "packb", counting_packb)
            with TaskCounter(asyncio.get_running_loop()) as tasks:
                delivered = [router.broadcast({"type": "likes", "room_id": room_id,
                                               "total": n, "seq": 1000 + n})
                             for n in range(20)]
            monkeypatch.undo()
            # aiortc's own send made a task per message and viewer: 120 here.
            assert tasks.created == 0
            assert packs == 20
            assert delivered == [VIEWERS] * 20
            assert await wait_for(lambda: all(len(r) >= 20 for r in raws), 15)
            for raw in raws:  # the same bytes to everyone, in order
                assert raw == raws[0]
                assert [msgpack.unpackb(m)["total"] for m in raw] == list(range(20))
            # Every viewer's SACKs came back by the direct receive path and were taken.
            sessions = list(router.viewers.values())
            for session in sessions:
                assert session.channel is not None
                dtls = session.channel.transport.transport
                assert dtls.transport._connection._nominated[1].protocol in (
                    datachannel._RECEIVING)
            assert await wait_for(lambda: all(
                s.channel is not None and not s.channel.transport._sent_queue
                for s in sessions), 10)
            # A long one goes in 1,200-byte pieces (more than the window takes at once: the
            # rest leaves as SACKs come back), whole and in its place.
            assert router.broadcast({"type": "chat", "text": "x" * 30_000}) == VIEWERS
            assert await wait_for(lambda: all(v.of("chat") for v in viewers), 10)
            assert all(v.of("chat")[0]["text"] == "x" * 30_000 for v in viewers)
            # A message for one viewer only still reaches that viewer alone, after the rest.
            assert router.broadcast({"type": "order_status", "order": {"n": 1}},
                                    to=viewer_id) == 1
            assert await wait_for(lambda: viewers[0].of("order_status"), 10)
            assert viewers[0].events[-1]["type"] == "order_status"
            await asyncio.sleep(0.3)
            assert not any(v.of("order_status") for v in viewers[1:])
            # And the whole path (HTTP, Redis, every node's bus) still delivers.
            likes_before = len(viewers[1].of("likes"))
            await server.ctx.chat.like(room_id, viewer_id, 3)
            assert await wait_for(lambda: len(viewers[1].of("likes")) > likes_before, 10)
        finally:
            for v in viewers:
                await v.stop()


async def test_a_viewer_that_stops_acknowledging_is_held_to_the_cap(server: Running) -> None:
    async with aiohttp.ClientSession() as http:
        room_id, router, viewers, _ = await _room_with_viewers(server, http, 2)
        healthy, stuck = viewers
        try:
            stuck_sctp = stuck.channel.transport

            async def deaf(data: bytes) -> None:  # receives nothing, acknowledges nothing
                return None

            stuck_sctp._handle_data = deaf
            stuck_session = next(s for s in router.viewers.values() if s.identity is None)
            raw = record_raw(healthy)
            filler = "x" * 2000
            events = 400  # 800 KB: over three times the cap
            for n in range(events):
                router.broadcast({"type": "chat", "room_id": room_id, "n": n, "text": filler})
                if n % 20 == 0:
                    await asyncio.sleep(0.01)
            channel = stuck_session.channel
            assert channel is not None
            # What the server holds for the deaf viewer stays near the cap...
            assert channel.bufferedAmount <= datachannel.DEFAULT_CAP + 4096
            assert router.dropped_events > 0
            # ... while the other viewer gets every event, in order.
            assert await wait_for(lambda: len(raw) >= events, 60), len(raw)
            assert [msgpack.unpackb(m)["n"] for m in raw] == list(range(events))
        finally:
            for v in viewers:
                await v.stop()
