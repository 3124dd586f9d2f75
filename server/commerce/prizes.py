"""What a winner of an auction or a giveaway gets: the order goes to the account a bidder or
watcher has merged into since (``account_ids``), and accepting the prize (``accept_prize``)
writes where to send it. A priced prize is paid like any order: under a provider that does
not confirm at once (a transfer the host confirms) accepting only writes the contact, and
the order stays reserved, its time limit still running, until the host confirms payment.
"""

from __future__ import annotations

import time
from typing import Any

import redis.asyncio as aioredis

from server.audience.signin import merged_key
from server.commerce.records import Order
from server.commerce.rules import Contact, order_total
from server.commerce.service import Commerce
from server.commerce.views import order_view
from server.platform.errors import RuleError

MERGE_HOPS = 3  # an id merged into one that merged on again (a second phone) is followed


async def account_ids(redis: aioredis.Redis, ids: list[str]) -> list[str]:
    """Each id, or the account it merged into (``viewer:{id}:merged_into``), in order: an
    order made for an old id after a sign-in would be lost to its owner."""
    out = list(ids)
    for _ in range(MERGE_HOPS):
        if not out:
            break
        targets = await redis.mget([merged_key(i) for i in out])
        if not any(targets):
            break
        out = [str(t) if t else i for i, t in zip(out, targets, strict=True)]
    return out


def confirms_on_accept(commerce: Commerce, order: Order) -> bool:
    """A free prize, or cash on delivery, is confirmed by the winner's yes; a priced prize
    paid by transfer is confirmed by the host once the money arrived."""
    return order_total(order)[1] == 0 or commerce.payments.confirms_at_once


def prize_view(commerce: Commerce, order: Order) -> dict[str, Any]:
    """The order as the winner sees it, with how to pay while it waits for payment."""
    view = order_view(order)
    if not confirms_on_accept(commerce, order):
        view["payment"] = commerce.payments.instructions(order)
    return view


async def accept_prize(commerce: Commerce, buyer_id: str, order: Order,
                       contact: Contact) -> Order:
    """The winner says yes and where to send it: confirmed when that is all it takes,
    else the contact is written and the order stays reserved until paid."""
    if order["buyer_id"] != buyer_id or not order.get("prize"):
        raise RuleError("no such prize order", code="not_found")
    if order["status"] != "reserved":
        raise RuleError(f"this prize order is {order['status']}", code="conflict")
    fields = {"name": contact.name, "phone": contact.phone, "address": contact.address}
    if confirms_on_accept(commerce, order):
        updated = await commerce.set_status(order, "confirmed", **fields)
    else:  # reserved -> reserved: its reservation (and time limit) stay as they are
        result = await commerce.store.transition(order, "reserved", time.time(), **fields)
        if result != "ok":
            raise RuleError(f"the order changed meanwhile (now {result})", code="conflict")
        found = await commerce.store.get_order(order["order_id"])
        assert found is not None
        updated = found
        await commerce.bus.publish(updated["room_id"], {
            "type": "order_status", "to": buyer_id, "order": prize_view(commerce, updated)})
    await commerce.store.save_contact(buyer_id, contact)
    return updated
