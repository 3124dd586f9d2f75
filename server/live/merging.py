"""Signing in merges an anonymous identity into an account: each key family's owner moves
its own keys, in one atomic script of its own, through a hook listed here.

A hook takes (from_id, to_id) and returns how many items it moved; it must be safe to run
twice (a sign-in that failed half-way is run again). Hooks run in the order added; owners
add theirs in server/app.py (``context.merges.add(...)``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("stallcast.merging")

ViewerMerge = Callable[[str, str], Awaitable[int]]


class ViewerMerges:
    """The merge hooks of every key family that holds something of a viewer's."""

    def __init__(self) -> None:
        self.hooks: list[tuple[str, ViewerMerge]] = []

    def add(self, name: str, hook: ViewerMerge) -> None:
        self.hooks.append((name, hook))

    async def run(self, from_id: str, to_id: str) -> dict[str, int]:
        """Every hook in turn; what each moved. An exception stops the run (the caller
        answers an error and the merge is run again on the next sign-in)."""
        moved: dict[str, int] = {}
        for name, hook in self.hooks:
            moved[name] = await hook(from_id, to_id)
        log.info("viewer merged", extra={"from_id": from_id, "to_id": to_id, **{
            f"moved_{name}": n for name, n in moved.items()}})
        return moved
