"""The objects one running server shares between handlers."""

from __future__ import annotations

from dataclasses import dataclass, field

import redis.asyncio as aioredis
from aiohttp import web

from media.sfu import Sfu
from server.accounts.store import Store
from server.audience.chat import Chat
from server.audience.signin import Accounts
from server.audience.viewers import ViewerAuth
from server.commerce.auctions import Auctions
from server.commerce.giveaways import Giveaways
from server.commerce.service import Commerce
from server.live.merging import ViewerMerges
from server.live.presence import Presence
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
    accounts: Accounts
    # Sign-in merge hooks, one per key family (server/live/merging.py); app.py adds them.
    merges: ViewerMerges = field(default_factory=ViewerMerges)
    # Live selling: auctions, giveaways and the watch time they draw on; app.py sets them.
    auctions: Auctions = field(init=False)
    giveaways: Giveaways = field(init=False)
    presence: Presence = field(init=False)


CONTEXT = web.AppKey("stallcast", AppContext)


def ctx(request: web.Request) -> AppContext:
    return request.app[CONTEXT]
