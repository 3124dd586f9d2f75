"""The objects one running server shares between handlers."""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis
from aiohttp import web

from media.sfu import Sfu
from server.accounts.store import Store
from server.audience.chat import Chat
from server.audience.viewers import ViewerAuth
from server.commerce.service import Commerce
from server.platform.config import Config
from server.platform.events import EventBus
from server.vod.sessions import SessionStore
from server.vod.signing import UrlSigner


@dataclass
class AppContext:
    config: Config
    redis: aioredis.Redis
    store: Store
    sfu: Sfu
    bus: EventBus
    commerce: Commerce
    chat: Chat
    viewers: ViewerAuth
    sessions: SessionStore
    signer: UrlSigner


CONTEXT = web.AppKey("stallcast", AppContext)


def ctx(request: web.Request) -> AppContext:
    return request.app[CONTEXT]
