"""The commerce records as stored: products, flash sales and orders, each a TypedDict with
its one decoder from the Redis hash (``product:{pid}``, ``sale:{sale_id}``,
``order:{oid}``; docs/redis-keys.md lists who writes which field).

Numbers are the fields declared ``int`` or ``float``; every other field is a string as
Redis holds it. Fields written later in a record's life (an edit, the end of a sale, a
cancellation) or missing from records older than them are ``NotRequired``.
"""

from __future__ import annotations

from typing import NotRequired, TypedDict

from server.platform.records import decoder


class Sellable(TypedDict):
    """What every order's source has: a product, a flash sale, or a class (a recorded
    session on sale, server/vod/records.py)."""

    product_id: str
    host_id: str
    title: str
    price: int  # minor units (cents, fen, yen)
    currency: str
    per_buyer_limit: int


class SellableClass(Sellable):
    """What commerce needs of a class to sell it (the whole record is
    server/vod/records.py ``Class``)."""

    class_id: str
    room_id: str


class Product(Sellable):
    description: str
    image: str
    stock: int  # a product with variants holds none: each variant has its own
    created_at: float
    status: str  # active, archived, deleted
    # Defaults filled in for records from before these fields (products.decode):
    thumb: str  # square thumbnail URL, "" for none
    shipping_fee: int  # minor units, once per order
    parent_id: str  # the product this is a variant of, "" for none
    variant_label: str  # "" unless a variant
    variant_ids: str  # the variants' ids, comma-separated, fixed at creation; "" for none
    ship_by_hours: int  # the delivery promise: ship within N hours of an order, 0 for none
    updated_at: NotRequired[float]  # set by each edit (UPDATE_PRODUCT)


class Sale(Sellable):
    sale_id: str
    room_id: str
    # The product's price when the sale was made. Not coerced (it never was): it reaches
    # clients as the string Redis holds.
    list_price: int
    quantity: int
    remaining: int
    starts_at: float
    ends_at: float
    created_at: float
    status: str  # scheduled, live, ended
    ended_at: NotRequired[float]
    shipping_fee: NotRequired[int]  # the product's when the sale was made (CREATE_SALE)


class Order(TypedDict):
    order_id: str
    buyer_id: str
    host_id: str
    room_id: str
    product_id: str
    product_title: str
    sale_id: str  # "" for a direct buy or a class
    quantity: int
    unit_price: int
    currency: str
    name: str
    phone: str
    address: str
    created_at: float
    idempotency_key: str
    source: str  # the stock's hash: sale:{id}, product:{id} or class:{id}
    source_field: str  # remaining (a sale) or stock
    tracking_number: str
    status: str  # rules.TRANSITIONS
    # Written by BUY from the source's price and fee at that moment; orders from before
    # shipping fees have neither (rules.order_total).
    shipping_fee: NotRequired[int]
    total: NotRequired[int]  # unit_price * quantity + shipping_fee - discount
    coupon_id: NotRequired[str]  # the coupon the buy applied, "" for none (ROOM_BUY)
    discount: NotRequired[int]  # what that coupon took off the goods, minor units
    ship_by: NotRequired[float]  # ship before this (the product's ship_by_hours), if promised
    expires_at: NotRequired[float]
    phone_key: NotRequired[str]
    address_key: NotRequired[str]
    updated_at: NotRequired[float]
    cancel_reason: NotRequired[str]
    prize: NotRequired[str]  # "auction" or "giveaway": won, not bought (auctions.py)
    prize_id: NotRequired[str]  # the auction's or giveaway's id


decode_product = decoder(Product)
decode_sale = decoder(Sale)
decode_order = decoder(Order)
