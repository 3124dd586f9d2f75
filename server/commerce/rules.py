"""Commerce rules as plain functions: input validation, the order state machine, CSV.

Nothing here touches the network or Redis, so every rule is testable on its own.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from server.platform.errors import RuleError
from server.platform.text import int_field, text_field

CURRENCY = re.compile(r"^[A-Z]{3}$")
MAX_PRICE = 10**12
MAX_STOCK = 10**9
MAX_SALE_SECONDS = 24 * 3600



MAX_SHIPPING = 10**8  # a shipping fee, minor units
MAX_SHIP_HOURS = 24 * 60  # the longest delivery promise, hours
VARIANTS = (2, 10)  # how many variants a product with variants has
LABEL_LEN = 40


@dataclass(frozen=True)
class VariantInput:
    """One choice of a product (a 2 kg or a 5 kg box): its own price, stock and limit."""

    label: str
    price: int
    stock: int
    per_buyer_limit: int


@dataclass(frozen=True)
class ProductInput:
    title: str
    description: str
    price: int  # minor units (cents, fen, yen); with variants, the lowest of theirs
    currency: str
    image: str
    stock: int  # with variants, 0: each variant holds its own
    per_buyer_limit: int
    thumb: str = ""
    shipping_fee: int = 0  # minor units, once per order
    ship_by_hours: int = 0  # the promise to ship within N hours of an order, 0 for none
    variants: tuple[VariantInput, ...] = ()


def _currency(body: Mapping[str, Any]) -> str:
    currency = body.get("currency", "")
    if not isinstance(currency, str) or not CURRENCY.match(currency):
        raise RuleError("currency must be an ISO 4217 code such as CNY, JPY or USD")
    return currency


def _image(body: Mapping[str, Any], key: str = "image") -> str:
    image = text_field(body, key, 2000, required=False)
    if image and not re.match(r"^(https?://|/)", image):
        raise RuleError(f"{key} must be an http(s) URL or a path")
    return image


# One validator per product field, so a full body and a partial edit are judged alike.
PRODUCT_FIELDS: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "title": lambda b: text_field(b, "title", 200),
    "description": lambda b: text_field(b, "description", 5000, required=False, multiline=True),
    "price": lambda b: int_field(b, "price", 0, MAX_PRICE),
    "currency": _currency,
    "image": _image,
    "stock": lambda b: int_field(b, "stock", 0, MAX_STOCK),
    "per_buyer_limit": lambda b: int_field(b, "per_buyer_limit", 1, 10**6, default=10),
    "thumb": lambda b: _image(b, "thumb"),
    "shipping_fee": lambda b: int_field(b, "shipping_fee", 0, MAX_SHIPPING, default=0),
    # The delivery promise: ship within this many hours of the order (0: none promised).
    "ship_by_hours": lambda b: int_field(b, "ship_by_hours", 0, MAX_SHIP_HOURS, default=0),
}
# What differs between the variants of one product; the rest is the product's, shared.
OWN_FIELDS = ("price", "stock")
VARIANT_FIELDS: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "variant_label": lambda b: text_field({"label": b.get("label")}, "label", LABEL_LEN),
    "price": PRODUCT_FIELDS["price"],
    "stock": PRODUCT_FIELDS["stock"],
    "per_buyer_limit": lambda b: int_field(b, "per_buyer_limit", 1, 10**6),
}


def _variants(raw: Any, default_limit: int) -> tuple[VariantInput, ...]:
    lo, hi = VARIANTS
    if not isinstance(raw, list) or not lo <= len(raw) <= hi:
        raise RuleError(f"variants must be a list of {lo} to {hi} objects")
    out: list[VariantInput] = []
    for item in raw:
        if not isinstance(item, Mapping):
            raise RuleError("each variant must be an object with label, price and stock")
        _no_unknown(item, {"label", "price", "stock", "per_buyer_limit"})
        out.append(VariantInput(
            label=VARIANT_FIELDS["variant_label"](item), price=PRODUCT_FIELDS["price"](item),
            stock=PRODUCT_FIELDS["stock"](item),
            per_buyer_limit=int_field(item, "per_buyer_limit", 1, 10**6,
                                      default=default_limit)))
    labels = [unicodedata.normalize("NFKC", v.label).casefold() for v in out]
    if len(set(labels)) != len(labels):
        raise RuleError("each variant needs a label of its own")
    return tuple(out)


def product_input(body: Mapping[str, Any]) -> ProductInput:
    """Validate a whole new product. With ``variants``, the price and stock are each
    variant's: any given for the product itself are not used."""
    _no_unknown(body, {*PRODUCT_FIELDS, "variants"})
    if "variants" not in body:
        return ProductInput(**{name: check(body) for name, check in PRODUCT_FIELDS.items()})
    fields = {name: check(body) for name, check in PRODUCT_FIELDS.items()
              if name not in OWN_FIELDS}
    variants = _variants(body["variants"], fields["per_buyer_limit"])
    return ProductInput(**fields, price=min(v.price for v in variants), stock=0,
                        variants=variants)


def _no_unknown(body: Mapping[str, Any], known: set[str]) -> None:
    unknown = set(body) - known
    if unknown:
        raise RuleError(f"unknown field(s): {', '.join(sorted(unknown))[:200]}")


@dataclass(frozen=True)
class ProductEdit:
    """The fields an edit names, validated; nothing else is written. ``expected_stock``
    makes a stock change conditional on the figure the editor saw (409 if it moved)."""

    changes: dict[str, Any]
    expected_stock: int | None = None


def product_edit(body: Mapping[str, Any], kind: str = "plain") -> ProductEdit:
    """An edit of a ``kind`` of product: "plain", "parent" (has variants: price and stock
    are theirs) or "variant" (price, stock, per_buyer_limit and its label)."""
    checks: dict[str, Callable[[Mapping[str, Any]], Any]]
    if kind == "variant":
        checks = VARIANT_FIELDS
        named = {"label" if n == "variant_label" else n for n in checks}
    else:
        checks = {n: c for n, c in PRODUCT_FIELDS.items()
                  if kind == "plain" or n not in OWN_FIELDS}
        named = set(checks)
    _no_unknown(body, named | ({"expected_stock"} if "stock" in checks else set()))
    changes = {name: check(body) for name, check in checks.items()
               if (name if name != "variant_label" else "label") in body}
    expected = None
    if "expected_stock" in body:
        if "stock" not in body:
            raise RuleError("expected_stock goes with stock")
        expected = int_field(body, "expected_stock", 0, MAX_STOCK)
    if not changes:
        raise RuleError(f"name at least one of {', '.join(sorted(named))}")
    return ProductEdit(changes, expected)


@dataclass(frozen=True)
class SaleInput:
    product_id: str
    price: int
    quantity: int
    starts_at: float
    duration: int
    per_buyer_limit: int

    @property
    def ends_at(self) -> float:
        return self.starts_at + self.duration


def sale_input(body: Mapping[str, Any], now: float, default_limit: int) -> SaleInput:
    product_id = text_field(body, "product_id", 64)
    start_in = body.get("start_in", 0)
    starts_at = body.get("starts_at")
    if starts_at is not None:
        if isinstance(starts_at, bool) or not isinstance(starts_at, (int, float)) or (
                not math.isfinite(starts_at)):
            raise RuleError("starts_at must be a UNIX time in seconds")
        if starts_at < now - 5 or starts_at > now + 30 * 86400:
            raise RuleError("starts_at must be now or within 30 days")
        start = max(float(starts_at), now)
    else:
        start = now + int_field({"start_in": start_in}, "start_in", 0, 30 * 86400)
    return SaleInput(
        product_id=product_id,
        price=int_field(body, "price", 0, MAX_PRICE),
        quantity=int_field(body, "quantity", 1, MAX_STOCK),
        starts_at=start,
        duration=int_field(body, "duration", 5, MAX_SALE_SECONDS),
        per_buyer_limit=int_field(body, "per_buyer_limit", 1, 10**6, default=default_limit),
    )


@dataclass(frozen=True)
class Contact:
    name: str
    phone: str
    address: str


PHONE = re.compile(r"^\+?[0-9 ()\-]{5,24}$")


def contact_input(body: Any, digital: bool = False) -> Contact:
    """Buyer contact; ``digital`` goods (classes) need no postal address."""
    if not isinstance(body, Mapping):
        raise RuleError("contact must be an object with name, phone and address",
                        code="contact_required")
    contact = Contact(
        name=text_field(body, "name", 100),
        phone=text_field(body, "phone", 32),
        address=text_field(body, "address", 500, required=not digital),
    )
    if not PHONE.match(contact.phone):
        raise RuleError("phone must be digits, spaces, +, - or parentheses")
    return contact


PHONE_DIGITS = 9  # national numbers differ in their prefixes (+86, 0), not their tails


def person_keys(contact: Contact) -> tuple[str, str]:
    """What identifies a buyer beyond a free identity: the phone's last digits and the
    address with case, width, spacing and punctuation taken out, each as a short hash.
    A per-buyer limit counts against both, so new identities buy nothing more."""
    digits = "".join(ch for ch in contact.phone if ch.isdigit())[-PHONE_DIGITS:]
    folded = unicodedata.normalize("NFKC", contact.address).casefold()
    address = "".join(ch for ch in folded if unicodedata.category(ch)[0] in "LN")

    def digest(kind: str, value: str) -> str:
        if not value:
            return ""
        return kind + hashlib.blake2s(value.encode(), digest_size=8).hexdigest()

    return digest("t", digits), digest("a", address)


IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_\-:.]{8,80}$")


def idempotency_key(value: Any) -> str:
    if not isinstance(value, str) or not IDEMPOTENCY_KEY.match(value):
        raise RuleError("idempotency_key must be 8-80 characters of A-Z a-z 0-9 _ - : .")
    return value


@dataclass(frozen=True)
class BuyInput:
    """A buy request, checked: what to buy (a sale's id, else a product's), how many, the
    key that makes a retry safe, and the contact (None: the one the buyer saved)."""

    idem: str
    quantity: int
    sale_id: str
    product_id: str
    contact: Contact | None
    # The client sent this key before and got no answer it could use: the attempt goes to
    # Redis even where this node remembers the source sold out, since the first attempt may
    # have made an order on another node.
    retry: bool = False
    coupon_id: str = ""  # a coupon the buyer claimed, applied by the buy (coupons.py)


COUPON_ID = re.compile(r"^c_[0-9a-f]{1,40}$")


def buy_input(body: Mapping[str, Any]) -> BuyInput:
    idem = idempotency_key(body.get("idempotency_key"))
    quantity = body.get("quantity", 1)
    if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= 99:
        raise RuleError("quantity must be an integer from 1 to 99")
    sale_id, product_id = body.get("sale_id"), body.get("product_id")
    if not isinstance(sale_id, str):
        sale_id = ""
        if not isinstance(product_id, str):
            raise RuleError("a buy names a sale_id or a product_id")
    else:
        product_id = ""
    raw = body.get("contact")
    contact = None if raw is None else contact_input(raw)
    retry = body.get("retry", False)
    if not isinstance(retry, bool):
        raise RuleError("retry must be true or false")
    coupon_id = body.get("coupon_id", "")
    if coupon_id is None:
        coupon_id = ""
    if not isinstance(coupon_id, str) or (coupon_id and not COUPON_ID.match(coupon_id)):
        raise RuleError("coupon_id must be a coupon's id (c_...)")
    return BuyInput(idem, quantity, sale_id, product_id, contact, retry, coupon_id)


# Order status machine: reserved -> confirmed -> shipped -> delivered; cancel before shipping.
TRANSITIONS: dict[str, frozenset[str]] = {
    "reserved": frozenset({"confirmed", "cancelled"}),
    "confirmed": frozenset({"shipped", "cancelled"}),
    "shipped": frozenset({"delivered"}),
    "delivered": frozenset(),
    "cancelled": frozenset(),
}
STATUSES = tuple(TRANSITIONS)


# A digital order is paid for and then done: nothing to ship; cancelling it is a refund
# and takes the access back.
DIGITAL_TRANSITIONS: dict[str, frozenset[str]] = {
    "reserved": frozenset({"confirmed", "cancelled"}),
    "confirmed": frozenset({"cancelled"}),
    "cancelled": frozenset(),
}


def cancellable_statuses() -> list[str]:
    """The statuses an order may be cancelled from (either kind of order)."""
    return sorted({s for table in (TRANSITIONS, DIGITAL_TRANSITIONS)
                   for s, moves in table.items() if "cancelled" in moves})


def order_kind(order: Mapping[str, Any]) -> str:
    """"digital" (a class: access, nothing to ship) or "parcel" (goods for the courier)."""
    return "digital" if str(order.get("source", "")).startswith("class:") else "parcel"


def check_transition(current: str, new: str, digital: bool = False) -> None:
    if new not in TRANSITIONS:
        raise RuleError(f"unknown status {new!r}")
    allowed = (DIGITAL_TRANSITIONS if digital else TRANSITIONS).get(current, frozenset())
    if new not in allowed:
        what = "a class order" if digital else "an order"
        raise RuleError(f"{what} that is {current} cannot become {new}", code="conflict")


def tracking_number(value: Any) -> str:
    if not isinstance(value, str) or not re.match(r"^[A-Za-z0-9\-]{4,40}$", value):
        raise RuleError("tracking_number must be 4-40 letters, digits or dashes")
    return value


# total = unit_price x quantity + shipping_fee - discount (a coupon), what the buyer pays.
CSV_COLUMNS = ("order_id", "created_at", "status", "product", "quantity", "unit_price",
               "total", "currency", "name", "phone", "address", "tracking_number",
               "shipping_fee")


def order_total(order: Mapping[str, Any]) -> tuple[int, int]:
    """(shipping fee, total) of an order; orders from before shipping fees have none."""
    fee = int(order.get("shipping_fee", 0))
    return fee, int(order.get("total", int(order["unit_price"]) * int(order["quantity"]) + fee
                              - int(order.get("discount", 0))))


def format_money(minor: int, currency: str) -> str:
    """Minor units to a decimal string; JPY/KRW have no minor unit."""
    digits = 0 if currency in ("JPY", "KRW", "VND") else 2
    if digits == 0:
        return str(minor)
    return f"{minor // 100}.{minor % 100:02d}"


def _safe_cell(value: str) -> str:
    # Spreadsheet apps run cells that start with these as formulas.
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value


def orders_csv(orders: Iterable[Mapping[str, Any]], header: bool = True) -> str:
    """CSV rows for the courier; ``header=False`` for the pages after the first."""
    out = io.StringIO()
    writer = csv.writer(out)
    if header:
        writer.writerow(CSV_COLUMNS)
    for o in orders:
        qty = int(o["quantity"])
        unit = int(o["unit_price"])
        fee, total = order_total(o)
        writer.writerow([
            o["order_id"], o["created_at_iso"], o["status"], _safe_cell(o["product_title"]),
            qty, format_money(unit, o["currency"]), format_money(total, o["currency"]),
            o["currency"], _safe_cell(o["name"]), _safe_cell(o["phone"]),
            _safe_cell(o["address"]), o.get("tracking_number", ""),
            format_money(fee, o["currency"]),
        ])
    return out.getvalue()
