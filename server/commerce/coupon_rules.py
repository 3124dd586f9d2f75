"""Coupon rules as plain code: what a host may push, the record as stored and what viewers
are shown of it. No I/O, so each rule is testable on its own.

A coupon takes an amount (minor units, like every price) or a percentage off the goods of
one order (never the shipping fee, never below zero), above an optional minimum order.
It is valid for the live show it was pushed in ("show") or for N hours ("hours").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypedDict

from server.commerce.rules import CURRENCY, MAX_PRICE
from server.platform.errors import RuleError
from server.platform.records import decoder
from server.platform.text import int_field

KINDS = ("amount", "percent")
SHOW_HOURS = 24  # a "this show" coupon also lapses after this long, show or no show
FIELDS = {"kind", "value", "currency", "min_order", "quota", "valid_hours"}


class Coupon(TypedDict):
    coupon_id: str
    room_id: str
    host_id: str
    kind: str  # amount, percent
    value: int  # minor units off (amount) or percent off (percent)
    currency: str  # "" for a percentage with no minimum order: any currency
    min_order: int  # minor units of goods (unit price x quantity), 0 for none
    quota: int
    claimed: int
    used: int
    session_id: str  # the show it is valid for, "" for an hours coupon
    expires_at: float
    created_at: float
    status: str  # active, ended


decode_coupon = decoder(Coupon)


@dataclass(frozen=True)
class CouponInput:
    kind: str
    value: int
    currency: str
    min_order: int
    quota: int
    valid_hours: int  # 0: this show


def coupon_input(body: Mapping[str, Any], max_quota: int, max_hours: int) -> CouponInput:
    """Validate a push. An amount, or a minimum order, needs the currency it is in."""
    unknown = set(body) - FIELDS
    if unknown:
        raise RuleError(f"unknown field(s): {', '.join(sorted(unknown))[:200]}")
    kind = body.get("kind")
    if kind not in KINDS:
        raise RuleError("kind must be amount or percent")
    value = (int_field(body, "value", 1, 100) if kind == "percent"
             else int_field(body, "value", 1, MAX_PRICE))
    min_order = int_field(body, "min_order", 0, MAX_PRICE, default=0)
    currency = body.get("currency", "")
    if not isinstance(currency, str) or (currency and not CURRENCY.match(currency)):
        raise RuleError("currency must be an ISO 4217 code such as CNY, JPY or USD")
    if not currency and (kind == "amount" or min_order):
        raise RuleError("an amount off or a minimum order needs its currency")
    return CouponInput(kind=str(kind), value=value, currency=currency, min_order=min_order,
                       quota=int_field(body, "quota", 1, max_quota),
                       valid_hours=int_field(body, "valid_hours", 0, max_hours, default=0))


def discount(coupon: Mapping[str, Any], subtotal: int) -> int:
    """What the coupon takes off ``subtotal`` minor units of goods: ROOM_BUY computes the
    same in Lua (a percentage rounds half up to the minor unit)."""
    value = int(coupon["value"])
    off = (subtotal * value + 50) // 100 if coupon["kind"] == "percent" else value
    return min(off, subtotal)


def coupon_view(coupon: Coupon, now: float, session: str | None) -> dict[str, Any]:
    """What viewers and hosts see; ``session`` is the room's live session now."""
    view: dict[str, Any] = {k: coupon[k] for k in (
        "coupon_id", "room_id", "kind", "value", "currency", "min_order", "quota", "claimed",
        "used", "expires_at", "created_at")}
    view["left"] = max(0, coupon["quota"] - coupon["claimed"])
    view["scope"] = "show" if coupon["session_id"] else "hours"
    view["active"] = is_active(coupon, now, session)
    return view


def is_active(coupon: Coupon, now: float, session: str | None) -> bool:
    """Claimable and usable: not ended, not expired, and (a show coupon) its show on."""
    return (coupon["status"] == "active" and now < coupon["expires_at"]
            and (not coupon["session_id"] or coupon["session_id"] == session))
