"""Where show reminders go besides the in-page banner: a ``NotificationProvider`` takes one
bounded batch of reminders at a time. Stallcast sends no SMS or push itself; an operator
points the ``webhook`` provider at a gateway that does. ``log`` logs each batch's size
(development, and a record of what was sent)."""

from __future__ import annotations

import logging
from typing import Any, Protocol

from server.platform.config import RemindersConfig
from server.platform.webhook import Webhook

log = logging.getLogger("stallcast.reminders")


class NotificationProvider(Protocol):
    name: str

    async def send(self, reminders: list[dict[str, Any]]) -> None:
        """Deliver each reminder ({viewer_id, show_id, room_id, title, host_name,
        watch_url, at}); failures are the provider's to log, the reminders stay sent."""

    async def close(self) -> None:
        """Release connections."""


class LogNotices:
    name = "log"

    async def send(self, reminders: list[dict[str, Any]]) -> None:
        if reminders:
            log.info("reminders sent", extra={"count": len(reminders),
                                              "room_id": reminders[0]["room_id"],
                                              "show_id": reminders[0]["show_id"]})

    async def close(self) -> None:
        return None


class WebhookNotices:
    """POSTs ``{"reminders": [...]}`` per batch; any 2xx is taken as delivered."""

    name = "webhook"

    def __init__(self, url: str, secret: str, timeout_s: float) -> None:
        self.hook = Webhook(url, secret, timeout_s)
        self.failures = 0

    async def send(self, reminders: list[dict[str, Any]]) -> None:
        if not reminders:
            return
        failed = await self.hook.post({"reminders": reminders})
        if failed is not None:
            self.failures += 1
            log.warning("reminder webhook failed", extra={"reason": failed,
                                                          "count": len(reminders)})

    async def close(self) -> None:
        await self.hook.close()


def notification_provider(config: RemindersConfig) -> NotificationProvider:
    if config.provider == "webhook":
        return WebhookNotices(config.webhook_url, config.webhook_secret,
                              float(config.webhook_timeout_s))
    return LogNotices()
