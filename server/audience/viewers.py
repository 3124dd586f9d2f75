"""Anonymous viewer identities: a random id and an HMAC signature, no account needed."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import OrderedDict

import redis.asyncio as aioredis

from server.platform.ratelimit import RateLimiter, Verdict

SECRET_KEY = "stallcast:viewer_secret"
MERGED_KNOWN = 200_000  # merged ids a node remembers (the oldest are forgotten first)


def nickname_key(viewer_id: str) -> str:
    """The name a viewer chose (chat.py writes it, moderation.py reads it for mutes)."""
    return f"viewer:{viewer_id}:nickname"


class ViewerAuth:
    def __init__(self, secret: bytes = b"") -> None:
        self._secret = secret
        self._merged: OrderedDict[str, str] = OrderedDict()

    async def load(self, redis: aioredis.Redis, mints_per_minute: int = 1) -> None:
        """Every node signs with the same secret, kept in Redis and made once."""
        self._mints = RateLimiter(redis, "rl:mint", mints_per_minute, 60.0)
        self.mints_per_minute = mints_per_minute
        await redis.set(SECRET_KEY, secrets.token_hex(32), nx=True)
        self._secret = str(await redis.get(SECRET_KEY)).encode()

    async def allow_mint(self, client: str) -> Verdict:
        """Identities are free, so each client address gets a budget of new ones a
        minute; otherwise a fresh identity would be a fresh chat budget and a way around
        a mute."""
        return await self._mints.take(client)

    def derive(self, label: str) -> bytes:
        """A key for another purpose (e.g. signing replay URLs) from the shared secret."""
        if not self._secret:
            raise RuntimeError("ViewerAuth used before load()")
        return hmac.new(self._secret, label.encode(), hashlib.sha256).digest()

    def _sign(self, viewer_id: str) -> str:
        if not self._secret:
            raise RuntimeError("ViewerAuth used before load()")
        return hmac.new(self._secret, viewer_id.encode(), hashlib.sha256).hexdigest()[:32]

    def issue(self) -> tuple[str, str]:
        viewer_id = "v_" + secrets.token_hex(8)
        return viewer_id, self.token_for(viewer_id)

    def token_for(self, viewer_id: str) -> str:
        """The token of an existing identity (an account's, handed over at sign-in)."""
        return f"{viewer_id}.{self._sign(viewer_id)}"

    def note_merged(self, from_id: str, to_id: str) -> None:
        """``from_id`` signed in to the account ``to_id``: its token is refused from now
        on (signin.Accounts tells every node, so this check costs no round trip)."""
        self._merged[from_id] = to_id
        self._merged.move_to_end(from_id)
        while len(self._merged) > MERGED_KNOWN:
            self._merged.popitem(last=False)

    def merged_into(self, viewer_id: str) -> str | None:
        return self._merged.get(viewer_id)

    def verify(self, token: str) -> str | None:
        viewer_id, _, sig = token.partition(".")
        if not viewer_id.startswith("v_") or len(viewer_id) > 40 or not sig:
            return None
        return viewer_id if hmac.compare_digest(sig, self._sign(viewer_id)) else None
