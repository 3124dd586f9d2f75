"""The objects one running server shares between handlers."""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis
from aiohttp import web

from media.sfu import Sfu

from .config import Config
from .store import Store


@dataclass
class AppContext:
    config: Config
    redis: aioredis.Redis
    store: Store
    sfu: Sfu


CONTEXT = web.AppKey("stallcast", AppContext)


def ctx(request: web.Request) -> AppContext:
    return request.app[CONTEXT]
