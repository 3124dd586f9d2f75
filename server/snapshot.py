"""A room's current state in one map, for late joiners and clients that saw a sequence gap."""

from __future__ import annotations

from typing import Any

from .context import AppContext


async def room_snapshot(app: AppContext, room_id: str) -> dict[str, Any]:
    snapshot = await app.commerce.snapshot(room_id)
    router = app.sfu.routers.get(room_id)
    live = bool(router and router.live) or bool(await app.redis.exists(f"room:{room_id}:live"))
    snapshot.update({
        "room_id": room_id,
        "live": live,
        "chat": await app.chat.history(room_id),
        "likes": await app.chat.likes(room_id),
    })
    return snapshot
