"""A room's current state in one map, for late joiners and clients that saw a sequence gap.

One unreadable stored item (text stored before input was checked, a half-written record)
is left out rather than failing the whole snapshot: a snapshot is every new viewer's
welcome, so it must not fail because of one product or one chat message.
"""

from __future__ import annotations

import logging
from typing import Any

from server.live.audience import audience_total
from server.live.context import AppContext
from server.live.node import room_is_live
from server.live.show import read_show
from server.platform.wire import WireError, check_tree

log = logging.getLogger("stallcast.snapshot")


def _sound(item: Any) -> bool:
    try:
        check_tree(item)
    except WireError:
        return False
    return True


def _keep_sound(room_id: str, what: str, items: list[Any]) -> list[Any]:
    kept = [item for item in items if _sound(item)]
    if len(kept) != len(items):
        log.warning("snapshot items left out", extra={"room_id": room_id, "what": what,
                                                      "count": len(items) - len(kept)})
    return kept


async def room_snapshot(app: AppContext, room_id: str) -> dict[str, Any]:
    snapshot = await app.commerce.snapshot(room_id)
    live = await room_is_live(app, room_id)
    snapshot.update({
        "room_id": room_id,
        "live": live,
        "chat": await app.chat.history(room_id),
        "likes": await app.chat.likes(room_id),
        "pinned_message": await app.chat.moderation.pinned(room_id),
        "viewers": await audience_total(app.redis, room_id),
        "show": await read_show(app.redis, room_id, live),
        "auction": await app.auctions.current(room_id),
        "coupons": await app.commerce.coupons.active(room_id),
    })
    for what in ("products", "sales", "chat", "coupons"):
        snapshot[what] = _keep_sound(room_id, what, snapshot[what])
    for what in ("pinned", "pinned_message"):
        if snapshot[what] is not None and not _sound(snapshot[what]):
            snapshot[what] = None
    return snapshot
