"""The objects one running server shares between handlers."""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis
from aiohttp import web

from media.sfu import Sfu

from .chat import Chat
from .commerce.service import Commerce
from .config import Config
from .events import EventBus
from .sessions import SessionStore
from .signing import UrlSigner
from .store import Store
from .viewers import ViewerAuth


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
