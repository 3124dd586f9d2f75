"""The viewer's data channel: msgpack events out, buys/chat/likes in.

Anything malformed, oversized or unknown is answered with an ``error`` message on the same
channel; it never reaches Redis and the connection stays up.
"""

from __future__ import annotations

import logging
import weakref
from typing import Any

import msgpack

from media.router import Router, ViewerSession
from server.commerce.store import BuyRefused
from server.live.context import AppContext
from server.live.snapshot import room_snapshot
from server.platform.errors import STORAGE_ERRORS, STORAGE_RETRY_AFTER_S, RuleError
from server.platform.ratelimit import LocalBucket
from server.platform.wire import WireError, check_tree

log = logging.getLogger("stallcast.channel")

MAX_MESSAGE = 4096


def _decode(message: Any) -> dict[str, Any]:
    if isinstance(message, str):
        raise RuleError("messages are binary msgpack maps", code="bad_message")
    if len(message) > MAX_MESSAGE:
        raise RuleError(f"message over {MAX_MESSAGE} bytes", code="too_large")
    try:
        msg = msgpack.unpackb(message, raw=False, strict_map_key=True,
                              max_str_len=MAX_MESSAGE, max_bin_len=MAX_MESSAGE,
                              max_array_len=256, max_map_len=64)
    except (ValueError, TypeError, msgpack.UnpackException, RecursionError):
        raise RuleError("not valid msgpack", code="bad_message") from None
    if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
        raise RuleError("a message is a map with a string 'type'", code="bad_message")
    try:
        check_tree(msg)  # the same rules as an HTTP body: finite numbers, bounded nesting
    except WireError as exc:
        raise RuleError(str(exc), code="bad_message") from None
    return msg


def _ref(msg: dict[str, Any]) -> Any:
    ref = msg.get("ref")
    if isinstance(ref, int) or (isinstance(ref, str) and len(ref) <= 64):
        return ref
    return None


# Requests that cost Redis work but need no identity: a flood from one viewer is refused
# here, in this process, before it reaches Redis. The page asks for a snapshot at most every
# 1.5 s (watch-room.js) and clicks a card when a person taps it.
SNAPSHOT_BURST, SNAPSHOTS_PER_S = 3, 1 / 1.5
CLICK_BURST, CLICKS_PER_S = 5, 1.0
BID_BURST, BIDS_PER_S = 5, 2.0  # a person taps "bid" a few times a second at most
CLAIM_BURST, CLAIMS_PER_S = 5, 1.0  # a room has at most a handful of coupons to claim


class Limits:
    """One viewer connection's local budgets."""

    def __init__(self) -> None:
        self.snapshot = LocalBucket(SNAPSHOT_BURST, SNAPSHOTS_PER_S)
        self.click = LocalBucket(CLICK_BURST, CLICKS_PER_S)
        self.bid = LocalBucket(BID_BURST, BIDS_PER_S)
        self.claim = LocalBucket(CLAIM_BURST, CLAIMS_PER_S)


def _take(bucket: LocalBucket, what: str) -> None:
    verdict = bucket.take()
    if not verdict.allowed:
        raise RuleError(f"too many {what} requests", code="rate_limited",
                        retry_after=round(verdict.retry_after, 2))


class ChannelHandler:
    def __init__(self, app: AppContext) -> None:
        self.app = app
        self._limits: weakref.WeakKeyDictionary[ViewerSession, Limits] = (
            weakref.WeakKeyDictionary())

    def limits(self, viewer: ViewerSession) -> Limits:
        found = self._limits.get(viewer)
        if found is None:
            found = self._limits[viewer] = Limits()
        return found

    async def on_open(self, viewer: ViewerSession, router: Router) -> None:
        welcome: dict[str, Any] = {"type": "welcome", "room_id": viewer.room_id,
                                   "viewer_id": viewer.identity, "live": router.live}
        try:
            snapshot = await room_snapshot(self.app, viewer.room_id)
            welcome.update(seq=snapshot["seq"], snapshot=snapshot)
        except Exception:
            # The viewer still gets its welcome (and the video); its page asks for a
            # snapshot again when the next event shows it has none.
            log.exception("welcome snapshot failed", extra={"room_id": viewer.room_id})
            welcome.update(seq=None, snapshot=None)
        viewer.send_event(welcome)

    async def on_message(self, viewer: ViewerSession, message: Any) -> None:
        ref = None
        try:
            msg = _decode(message)
            ref = _ref(msg)
            reply = await self._dispatch(viewer, msg)
            reply["ref"] = ref
            viewer.send_event(reply)
        except BuyRefused as exc:
            viewer.send_event({"type": "error", "code": exc.code, "message": str(exc),
                               "remaining": exc.remaining, "ref": ref})
        except RuleError as exc:
            error = {"type": "error", "code": exc.code, "message": str(exc), "ref": ref}
            if exc.retry_after:  # any limit says when trying again will work
                error["retry_after"] = exc.retry_after
            viewer.send_event(error)
        except STORAGE_ERRORS:
            viewer.send_event({"type": "error", "code": "unavailable", "ref": ref,
                               "message": "storage is reconnecting; retry shortly",
                               "retry_after": STORAGE_RETRY_AFTER_S})
        except Exception:
            log.exception("data channel message failed")
            viewer.send_event({"type": "error", "code": "internal",
                               "message": "internal error", "ref": ref})
        if viewer.dropped_messages:
            viewer.send_event({"type": "error", "code": "rate_limited",
                               "message": f"{viewer.dropped_messages} messages dropped: "
                                          "sending too fast"})
            viewer.dropped_messages = 0

    async def _dispatch(self, viewer: ViewerSession, msg: dict[str, Any]) -> dict[str, Any]:
        kind = msg["type"]
        app = self.app
        if kind == "ping":
            return {"type": "pong"}
        if kind == "snapshot":
            _take(self.limits(viewer).snapshot, "snapshot")
            return {"type": "snapshot", "snapshot": await room_snapshot(app, viewer.room_id)}
        if kind == "card_click":
            product_id = msg.get("product_id")
            if not isinstance(product_id, str) or len(product_id) > 64:
                raise RuleError("card_click needs a product_id", code="invalid")
            _take(self.limits(viewer).click, "card_click")
            clicker = viewer.identity or f"session:{viewer.session_id}"
            counted = await app.commerce.count_click(viewer.room_id, product_id, clicker)
            return {"type": "card_click_ack", "counted": counted}
        if kind not in ("buy", "chat", "like", "claim_coupon", "bid"):
            raise RuleError(f"unknown message type {kind[:40]!r}", code="unknown_type")
        if viewer.identity is None:
            raise RuleError("identify first: POST /api/viewers, then watch with its token",
                            code="unauthorized")
        if app.viewers.merged_into(viewer.identity) is not None:  # signed in elsewhere
            raise RuleError("this identity signed in to an account: reload", code="merged")
        if kind == "buy":
            order = await app.commerce.buy(viewer.room_id, viewer.identity, msg)
            return {"type": "buy_result", "order": order}
        if kind == "claim_coupon":
            _take(self.limits(viewer).claim, "claim_coupon")
            claim = await app.commerce.coupons.claim(viewer.room_id, viewer.identity,
                                                     msg.get("coupon_id"))
            return {"type": "coupon_claim_result", **claim}
        if kind == "bid":
            _take(self.limits(viewer).bid, "bid")
            name = await app.chat.nickname(viewer.identity) or f"Viewer {viewer.identity[-4:]}"
            bid = await app.auctions.bid(viewer.room_id, viewer.identity, name, msg)
            return {"type": "bid_result", "bid": bid}
        if kind == "chat":
            message = await app.chat.send(viewer.room_id, viewer.identity, msg.get("name", ""),
                                          msg.get("text"), client=viewer.client)
            return {"type": "chat_ack", "message_id": message["message_id"]}
        total = await app.chat.like(viewer.room_id, viewer.identity, msg.get("count"))
        return {"type": "like_ack", "total": total}
