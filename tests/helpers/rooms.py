"""What tests set up on a running server before the part they test: a host's room with a
product (``open_shop``), a server with its operator (``staffed``), a room with its host live
and viewers watching (``live_room``)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp

from helpers.clients import Publisher, Viewer, on_air
from helpers.servers import Running, start_server
from helpers.shop import Api


@dataclass
class Shop:
    """A host (``host`` is its token), one of its rooms and one of its products, and a JSON
    client on an open HTTP session (``api.http``)."""

    api: Api
    host: str
    room: dict[str, str]
    product: dict[str, Any]

    @property
    def rid(self) -> str:
        return self.room["room_id"]

    @property
    def pid(self) -> str:
        return str(self.product["product_id"])


@contextlib.asynccontextmanager
async def open_shop(server: Running, in_room: bool = False, connector: Any = None,
                    **product: Any) -> AsyncIterator[Shop]:
    """A new host with a new room and a product (``product``: fields over Api.product's);
    ``in_room`` also lists the product in the room."""
    _, host = await server.new_host()
    room = await server.new_room(host)
    async with aiohttp.ClientSession(connector=connector) as http:
        api = Api(server.base, http)
        made = await api.product(host, **product)
        if in_room:
            await api.ok("POST", f"/api/rooms/{room['room_id']}/products", host,
                         {"product_id": made["product_id"]})
        yield Shop(api, host, room, made)


@dataclass
class Staffed:
    """A running server with a host (``host`` is its token), one room and an operator."""

    server: Running
    api: Api
    host: str
    operator: str
    room: dict[str, str]


@contextlib.asynccontextmanager
async def staffed(redis_url: str, env: dict[str, str], operator: str = "Ops",
                  title: str = "Mangoes") -> AsyncIterator[Staffed]:
    """A server started with ``env``, a JSON client, a host with a room titled ``title``
    and an operator called ``operator``."""
    async with start_server(redis_url, env) as server, aiohttp.ClientSession() as http:
        _, host = await server.new_host()
        op = await server.new_operator(operator)
        room = await server.new_room(host, title=title)
        yield Staffed(server, Api(server.base, http), host, op, room)


@dataclass
class Live:
    """A host's room with its publisher live and viewers watching."""

    host: str
    room: dict[str, str]
    pub: Publisher
    viewers: list[Viewer]

    @property
    def rid(self) -> str:
        return self.room["room_id"]

    @property
    def viewer(self) -> Viewer:
        return self.viewers[0]


@contextlib.asynccontextmanager
async def live_room(server: Running, viewers: int = 1, codec: str = "VP8") -> AsyncIterator[Live]:
    """A new host's new room with an aiortc publisher live on it (``codec``) and ``viewers``
    aiortc viewers watching, all stopped after."""
    _, host = await server.new_host()
    room = await server.new_room(host)
    async with on_air(server.base, room, viewers, codec) as (pub, watching):
        yield Live(host, room, pub, watching)
