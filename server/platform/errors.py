"""Errors every layer raises and the web layer answers: a broken rule (with a code the
error middleware maps to a status, and the data channel sends as is) and Redis trouble."""

from __future__ import annotations

import redis.asyncio as aioredis


class RuleError(ValueError):
    """Input breaks a rule; the message is safe to show the client. ``code`` says which
    kind (the error middleware's one table turns it into an HTTP status; the data channel
    sends it as is) and ``retry_after`` when trying again later will work."""

    def __init__(self, message: str, code: str = "invalid", retry_after: float = 0.0) -> None:
        super().__init__(message)
        self.code = code
        self.retry_after = retry_after


# Redis connection trouble: nothing was acknowledged, so the request may be retried once
# Redis answers again; live media does not depend on Redis and keeps flowing meanwhile.
STORAGE_ERRORS = (aioredis.ConnectionError, aioredis.TimeoutError, aioredis.BusyLoadingError)
STORAGE_RETRY_AFTER_S = 2
