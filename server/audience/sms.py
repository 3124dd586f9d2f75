"""Where sign-in codes go: an ``SmsProvider`` is anything that can text a code to a phone.

Stallcast sends no SMS itself; operators already have a gateway (Twilio, Aliyun, a local
carrier's HTTP API, an in-house relay), so the one real provider is a plain JSON webhook
they point at it. ``console`` writes the code to the server log instead, so a development
machine or a test can sign in with no gateway at all; it is the only place a code is ever
logged.
"""

from __future__ import annotations

import logging
from typing import Protocol

from server.platform.config import AccountsConfig
from server.platform.webhook import Webhook

log = logging.getLogger("stallcast.sms")


class SmsError(Exception):
    """The provider could not take the message (the caller answers 503)."""


class SmsProvider(Protocol):
    name: str

    async def send(self, phone: str, code: str, text: str) -> None:
        """Deliver ``text`` (which contains ``code``) to ``phone`` (E.164, "+" and digits)."""

    async def close(self) -> None:
        """Release connections."""


def mask(phone: str) -> str:
    """The phone as pages and logs show it: the country part and the last 4 digits."""
    digits = phone.lstrip("+")
    return "+" + digits[:2] + "•" * max(0, len(digits) - 6) + digits[-4:]


class ConsoleSms:
    """Logs the code at WARNING (so it shows at the default log level): development only."""

    name = "console"

    async def send(self, phone: str, code: str, text: str) -> None:
        log.warning("sign-in code %s for %s (console SMS provider, development only)",
                    code, mask(phone), extra={"phone": mask(phone), "code": code})

    async def close(self) -> None:
        return None


class WebhookSms:
    """POSTs ``{"phone", "code", "text"}`` to the operator's gateway; any 2xx is taken as
    sent. The code never reaches a log here, not even when the gateway fails."""

    name = "webhook"

    def __init__(self, url: str, secret: str, timeout_s: float) -> None:
        self.hook = Webhook(url, secret, timeout_s)

    async def send(self, phone: str, code: str, text: str) -> None:
        failed = await self.hook.post({"phone": phone, "code": code, "text": text})
        if failed is None:
            return
        log.warning("SMS gateway did not take a message",
                    extra={"reason": failed, "phone": mask(phone)})
        if failed.startswith("HTTP "):
            raise SmsError(f"the SMS gateway answered {failed[5:]}")
        raise SmsError("the SMS gateway is unreachable")

    async def close(self) -> None:
        await self.hook.close()


def sms_provider(config: AccountsConfig) -> SmsProvider:
    if config.sms_provider == "webhook":
        return WebhookSms(config.sms_webhook_url, config.sms_webhook_secret,
                          float(config.sms_webhook_timeout_s))
    return ConsoleSms()
