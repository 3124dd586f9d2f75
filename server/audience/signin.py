"""Buyer accounts: a phone number proven by a one-time code, so orders and classes follow
the person from phone to phone instead of living in one browser's storage.

An account is not a new kind of identity: the first viewer id that signs in with a number
becomes the account's id, and every later viewer id that signs in with it is merged into
that one (server/live/merging.py) and marked ``merged_into``. Codes are six digits, kept
only as an HMAC, live ``code_ttl_s``, burn after ``code_attempts`` wrong tries and are
gone once used; sending them is limited per number and per client address, because each
one costs the operator an SMS and a number must not be flooded. Wrong tries also count per
number over a day (``max_wrong_per_day``, every code's together): past it the number is
locked until that day window ends, so rotating addresses and fresh codes cannot buy an
attacker more than a handful of guesses a day.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from server.audience.sms import SmsProvider, mask
from server.audience.viewers import ViewerAuth
from server.platform.config import AccountsConfig
from server.platform.errors import RuleError
from server.platform.ratelimit import RateLimiter
from server.platform.text import encodable

log = logging.getLogger("stallcast.signin")

PHONE_INPUT_MAX = 32
_SEPARATORS = re.compile(r"[\s().\-]")
RECENT_MERGES = "merges:recent"
RECENT_MERGES_KEPT = 100_000  # what a node loads at start: late requests of merged ids
MERGE_POLL_S = 1.0
WRONG_WINDOW_S = 86_400  # the day over which a number's wrong tries add up

# KEYS: 1 the number's pending code (hash: code, attempts), 2 the number's account (string:
# viewer id), 3 the caller's account record, 4 the caller's merged_into, 5 merges:recent,
# 6 the number's wrong tries this day window (string, expires with the window).
# ARGV: 1 code HMAC, 2 caller's viewer id, 3 masked phone, 4 now, 5 merges kept,
# 6 wrong tries a day, 7 the window in seconds.
# Returns {"wrong", tries left} | {"locked", ms until the window ends} | {"expired"} |
# {"other_account"} | {"new" | "same" | "merge", account viewer id}; "merge" again for a
# caller already merged into this account (a sign-in whose merge hooks failed half-way is
# run again). A locked number checks no code, right or wrong.
SIGNIN = """
local cap = tonumber(ARGV[6])
if tonumber(redis.call('GET', KEYS[6]) or '0') >= cap then
  return {'locked', redis.call('PTTL', KEYS[6])}
end
local pending = redis.call('HMGET', KEYS[1], 'code', 'attempts')
if not pending[1] then return {'expired'} end
if pending[1] ~= ARGV[1] then
  local wrong = redis.call('INCR', KEYS[6])
  if wrong == 1 then redis.call('EXPIRE', KEYS[6], tonumber(ARGV[7])) end
  if wrong >= cap then
    redis.call('DEL', KEYS[1])
    return {'locked', redis.call('PTTL', KEYS[6])}
  end
  local left = redis.call('HINCRBY', KEYS[1], 'attempts', -1)
  if left <= 0 then redis.call('DEL', KEYS[1]) end
  return {'wrong', math.max(math.min(left, cap - wrong), 0)}
end
local account = redis.call('GET', KEYS[2])
if account == ARGV[2] then
  redis.call('DEL', KEYS[1])
  return {'same', account}
end
local merged = redis.call('GET', KEYS[4])
if account and merged == account then
  redis.call('DEL', KEYS[1])
  return {'merge', account}
end
if merged or redis.call('EXISTS', KEYS[3]) == 1 then return {'other_account'} end
redis.call('DEL', KEYS[1])
if not account then
  redis.call('SET', KEYS[2], ARGV[2])
  redis.call('HSET', KEYS[3], 'phone', ARGV[3], 'since', ARGV[4])
  return {'new', ARGV[2]}
end
redis.call('SET', KEYS[4], account)
redis.call('ZADD', KEYS[5], ARGV[4], ARGV[2] .. ' ' .. account)
local extra = redis.call('ZCARD', KEYS[5]) - tonumber(ARGV[5])
if extra > 0 then redis.call('ZREMRANGEBYRANK', KEYS[5], 0, extra - 1) end
return {'merge', account}
"""


def phone_number(value: Any) -> str:
    """A phone number as accounts key it: "+" and 8-15 digits (E.164). Separators are
    dropped; "00" counts as "+"; anything else is refused, never guessed at."""
    if not isinstance(value, str) or not encodable(value):
        raise RuleError("phone must be a string", code="invalid_phone")
    if len(value) > PHONE_INPUT_MAX:
        raise RuleError(f"phone longer than {PHONE_INPUT_MAX} characters", code="invalid_phone")
    text = _SEPARATORS.sub("", value)
    if text.startswith("00"):
        text = "+" + text[2:]
    digits = text[1:]
    if not text.startswith("+") or not digits.isascii() or not digits.isdigit() \
            or not 8 <= len(digits) <= 15 or digits[0] == "0":
        raise RuleError("phone must be +<country code><number>, 8 to 15 digits",
                        code="invalid_phone")
    return text


def one_time_code(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[0-9]{6}", value):
        raise RuleError("code must be the 6 digits sent by SMS", code="invalid_code")
    return value


@dataclass(frozen=True)
class SignedIn:
    viewer_id: str  # the account's viewer id
    outcome: str  # "new" (first sign-in with the number), "same", or "merge"
    phone: str  # masked


class Accounts:
    """Codes, their limits and the account of each number; knows which ids were merged."""

    def __init__(self, redis: aioredis.Redis, viewers: ViewerAuth, sms: SmsProvider,
                 config: AccountsConfig) -> None:
        self.redis = redis
        self.viewers = viewers
        self.sms = sms
        self.config = config
        self.per_phone = RateLimiter(redis, "rl:code-phone", config.codes_per_phone,
                                     float(config.codes_per_phone_period_s))
        self.per_address = RateLimiter(redis, "rl:code-address", config.codes_per_address,
                                       float(config.codes_per_address_period_s))
        self._signin = redis.register_script(SIGNIN)
        self._poll: asyncio.Task[None] | None = None
        self._seen = 0.0

    def _phone_id(self, phone: str) -> str:
        """Keys name a number by a keyed hash: Redis never holds a phone in the clear."""
        key = self.viewers.derive("account-phones")
        return hmac.new(key, phone.encode(), hashlib.sha256).hexdigest()[:32]

    def _code_hash(self, phone: str, code: str) -> str:
        key = self.viewers.derive("signin-codes")
        return hmac.new(key, f"{phone} {code}".encode(), hashlib.sha256).hexdigest()

    async def send_code(self, phone: str, client: str) -> float:
        """Make a new code for ``phone`` (replacing any pending one) and text it; returns
        its lifetime in seconds. Raises RuleError rate_limited with retry_after."""
        phone_id = self._phone_id(phone)
        if client:
            verdict = await self.per_address.take(client)
            if not verdict.allowed:
                raise RuleError("too many codes asked for from this address",
                                code="rate_limited", retry_after=verdict.retry_after)
        lock_ms = await self._lock_left(phone_id)
        if lock_ms > 0:
            raise locked(lock_ms / 1000)  # no SMS for a code that could not be used
        verdict = await self.per_phone.take(phone_id)
        if not verdict.allowed:
            raise RuleError("too many codes sent to this number; wait before asking again",
                            code="rate_limited", retry_after=verdict.retry_after)
        code = f"{secrets.randbelow(10**6):06d}"
        ttl = self.config.code_ttl_s
        key = f"signin:{phone_id}"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.hset(key, mapping={"code": self._code_hash(phone, code),
                                    "attempts": self.config.code_attempts})
            pipe.expire(key, ttl)
            await pipe.execute()
        await self.sms.send(phone, code, f"Stallcast sign-in code: {code} "
                                         f"(valid {max(1, ttl // 60)} min)")
        log.info("sign-in code sent", extra={"phone": mask(phone), "provider": self.sms.name})
        return float(ttl)

    async def sign_in(self, phone: str, code: str, viewer_id: str) -> SignedIn:
        """Check the code; the number's account id (the caller's, for a first sign-in).
        The caller is marked merged when the account is another id: run the merge hooks
        next. Raises RuleError wrong_code / expired / conflict."""
        phone_id = self._phone_id(phone)
        result = await self._signin(
            keys=[f"signin:{phone_id}", f"account:{phone_id}", account_key(viewer_id),
                  merged_key(viewer_id), RECENT_MERGES, wrong_key(phone_id)],
            args=[self._code_hash(phone, code), viewer_id, mask(phone), time.time(),
                  RECENT_MERGES_KEPT, self.config.max_wrong_per_day, WRONG_WINDOW_S])
        outcome = str(result[0])
        if outcome == "locked":
            raise locked(int(result[1]) / 1000)
        if outcome == "wrong":
            left = int(result[1])
            raise RuleError("wrong code" + (f"; {left} tries left" if left else
                                            "; this code is burnt, ask for a new one"),
                            code="wrong_code")
        if outcome == "expired":
            raise RuleError("no code pending for this number (expired, used or burnt); "
                            "ask for a new one", code="expired_code")
        if outcome == "other_account":
            raise RuleError("this device is signed in to another number; sign out first",
                            code="conflict")
        account = str(result[1])
        if outcome == "merge":
            self.viewers.note_merged(viewer_id, account)
        log.info("signed in", extra={"viewer_id": account, "outcome": outcome,
                                     "phone": mask(phone)})
        return SignedIn(account, outcome, mask(phone))

    async def _lock_left(self, phone_id: str) -> int:
        """Milliseconds the number stays locked for its wrong tries (0: not locked)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.get(wrong_key(phone_id))
            pipe.pttl(wrong_key(phone_id))
            wrong, ttl = await pipe.execute()
        return int(ttl) if int(wrong or 0) >= self.config.max_wrong_per_day else 0

    async def account_of(self, viewer_id: str) -> dict[str, str] | None:
        """The viewer's account as pages show it (masked phone), or None if anonymous."""
        raw = await self.redis.hgetall(account_key(viewer_id))
        if not raw:
            return None
        return {"phone": str(raw.get("phone", "")),
                "since": str(raw.get("since", ""))}

    # -- which ids are merged, known on every node without a round trip per request -------
    async def start(self) -> None:
        """Learn the recent merges, then follow new ones (every node, once a second)."""
        if self.sms.name == "console":
            log.warning("accounts.sms_provider is console: sign-in codes are written to this "
                        "log, not texted (set [accounts] sms_provider = webhook for phones)")
        await self._catch_up(float("-inf"))
        self._poll = asyncio.create_task(self._follow())

    async def _catch_up(self, since: float) -> None:
        low = "-inf" if since == float("-inf") else f"({since}"
        entries: Any = await self.redis.zrangebyscore(
            RECENT_MERGES, low, "+inf", withscores=True)
        for member, score in entries:
            from_id, _, to_id = str(member).partition(" ")
            self.viewers.note_merged(from_id, to_id)
            self._seen = max(self._seen, float(score))

    async def _follow(self) -> None:
        while True:
            await asyncio.sleep(MERGE_POLL_S)
            try:
                await self._catch_up(self._seen - 5)  # clocks of the nodes differ a little
            except Exception as exc:  # Redis away: try again next second
                log.debug("merge poll failed", extra={"reason": type(exc).__name__})

    async def close(self) -> None:
        if self._poll is not None:
            self._poll.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poll
        await self.sms.close()


def account_key(viewer_id: str) -> str:
    return f"viewer:{viewer_id}:account"


def wrong_key(phone_id: str) -> str:
    return f"signin:{phone_id}:wrong"


def locked(retry_after: float) -> RuleError:
    return RuleError("too many wrong codes for this number today; try again later",
                     code="rate_limited", retry_after=max(1.0, retry_after))


MERGED = "this identity signed in to an account: use the account's token"


def merged_key(viewer_id: str) -> str:
    return f"viewer:{viewer_id}:merged_into"
