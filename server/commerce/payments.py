"""Payment providers. A provider decides whether a new order is confirmed at once or held as a
reservation until payment arrives (and is released if it does not)."""

from __future__ import annotations

from typing import Any, Protocol

from server.commerce.records import Order
from server.commerce.rules import order_total


class PaymentProvider(Protocol):
    name: str
    #: True: orders are confirmed when placed (stock is taken for good).
    confirms_at_once: bool

    def instructions(self, order: Order) -> dict[str, Any]:
        """What the buyer is told to do to pay, shown with the order."""
        ...


class CashOnDelivery:
    """The courier collects the money: the order is confirmed at once."""

    name = "cod"
    confirms_at_once = True

    def instructions(self, order: Order) -> dict[str, Any]:
        return {"method": "cash_on_delivery", "amount": order_total(order)[1],
                "currency": order["currency"]}


class ManualTransfer:
    """The buyer pays by bank or wallet transfer; the host confirms it received the money
    (POST /api/orders/{id}/confirm). Unpaid reservations go back to stock when they expire."""

    name = "manual"
    confirms_at_once = False

    def instructions(self, order: Order) -> dict[str, Any]:
        return {"method": "transfer", "reference": order["order_id"],
                "amount": order_total(order)[1],
                "currency": order["currency"], "pay_before": order["expires_at"]}


PROVIDERS: dict[str, PaymentProvider] = {"cod": CashOnDelivery(), "manual": ManualTransfer()}

# Digital goods (classes) unlock on a confirmed payment, never on delivery; until a payment
# service that confirms by itself is configured, the host confirms the transfer.
DIGITAL: PaymentProvider = PROVIDERS["manual"]


def provider(name: str) -> PaymentProvider:
    try:
        return PROVIDERS[name]
    except KeyError:
        raise ValueError(f"unknown payment provider {name!r}; "
                         f"choose one of {', '.join(PROVIDERS)}") from None
