"""What hosts and viewers are shown of the commerce records: internal bookkeeping stays out,
and fields that older records lack get their defaults. Pure functions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from server.commerce.records import Order, Product, Sale
from server.commerce.rules import order_kind, order_total

# Order fields a buyer or host sees.
ORDER_FIELDS = ("order_id", "status", "room_id", "product_id", "product_title", "sale_id",
                "quantity", "unit_price", "currency", "name", "phone", "address", "created_at",
                "expires_at", "tracking_number", "cancel_reason", "buyer_id", "prize",
                "prize_id")
# ... and what a buy adds when it applies a coupon or promises shipping by a deadline.
PROMISE_FIELDS = ("coupon_id", "discount", "ship_by")
CARD_FIELDS = ("product_id", "title", "description", "price", "currency", "image", "thumb",
               "stock", "per_buyer_limit", "shipping_fee")
SALE_FIELDS = ("sale_id", "product_id", "title", "price", "list_price", "currency",
               "quantity", "remaining", "per_buyer_limit", "starts_at", "ends_at", "status")


def _pick(record: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """The named fields a record has, in the order named."""
    return {k: record[k] for k in keys if k in record}


def order_view(order: Order) -> dict[str, Any]:
    view = _pick(order, (*ORDER_FIELDS, *PROMISE_FIELDS))
    view["shipping_fee"], view["total"] = order_total(order)
    view["kind"] = order_kind(order)
    return view


def variant_view(variant: Product) -> dict[str, Any]:
    return {"product_id": variant["product_id"], "label": variant["variant_label"],
            "price": variant["price"], "stock": variant["stock"],
            "per_buyer_limit": variant["per_buyer_limit"]}


def _summed(view: dict[str, Any], variants: Sequence[Product]) -> dict[str, Any]:
    """A product with variants shows their total stock and its lowest price."""
    view["variants"] = [variant_view(v) for v in variants]
    if variants:
        view["stock"] = sum(v["stock"] for v in variants)
        view["price"] = min(v["price"] for v in variants)
    return view


def card_view(product: Product, variants: Sequence[Product] = ()) -> dict[str, Any]:
    """The Card viewers see (docs/events.md)."""
    fields: Mapping[str, Any] = product
    return _summed({k: fields[k] for k in CARD_FIELDS}, variants)


def product_view(product: Product, variants: Sequence[Product] = ()) -> dict[str, Any]:
    """The product as its host manages it: the record, with its variants listed."""
    view: dict[str, Any] = {k: v for k, v in product.items() if k != "variant_ids"}
    return _summed(view, variants)


def sale_view(sale: Sale) -> dict[str, Any]:
    view = _pick(sale, SALE_FIELDS)
    view["shipping_fee"] = sale.get("shipping_fee", 0)
    return view
