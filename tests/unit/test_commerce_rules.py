"""Commerce rules are plain code: no Redis, no network."""

from __future__ import annotations

import csv
import io

import pytest

from server.audience.rules import chat_text, like_count
from server.commerce.rules import (
    Contact,
    check_transition,
    contact_input,
    idempotency_key,
    orders_csv,
    person_keys,
    product_edit,
    product_input,
    sale_input,
)
from server.platform.errors import RuleError

MANGO = {"title": "Alphonso mangoes, 1 kg", "price": 3900, "currency": "CNY", "stock": 100}


def test_product_validation() -> None:
    p = product_input(MANGO)
    assert p.price == 3900 and p.per_buyer_limit == 10 and p.description == ""
    for bad, message in [
        ({**MANGO, "price": -1}, "price"),
        ({**MANGO, "price": 1.5}, "price"),
        ({**MANGO, "price": True}, "price"),
        ({**MANGO, "currency": "yuan"}, "currency"),
        ({**MANGO, "title": ""}, "title"),
        ({**MANGO, "title": "x" * 201}, "title"),
        ({**MANGO, "stock": 10**10}, "stock"),
        ({**MANGO, "image": "javascript:alert(1)"}, "image"),
        ({**MANGO, "colour": "red"}, "unknown field"),
        ({**MANGO, "per_buyer_limit": 0}, "per_buyer_limit"),
    ]:
        with pytest.raises(RuleError, match=message):
            product_input(bad)
    # An edit is only the fields it names: nothing read earlier is written back.
    edit = product_edit({"price": 3500})
    assert edit.changes == {"price": 3500} and edit.expected_stock is None
    assert product_edit({"stock": 9, "expected_stock": 4}).expected_stock == 4
    for bad, message in [({}, "at least one"), ({"expected_stock": 4}, "goes with stock"),
                         ({"price": -1}, "price"), ({"colour": "red"}, "unknown field"),
                         ({"title": "a\x07b"}, "control"), ({"title": "hi \ud800"}, "encoded")]:
        with pytest.raises(RuleError, match=message):
            product_edit(bad)


def test_person_keys_fold_the_ways_one_person_writes_a_contact() -> None:
    one = person_keys(Contact("Wang", "+86 138 0000 0000", "8 Binhai Road, Haikou"))
    assert person_keys(Contact("W", "(0)138-0000-0000", "８ BINHAI road haikou")) == one
    other = person_keys(Contact("Wang", "+86 139 0000 0000", "9 Binhai Road, Haikou"))
    assert other[0] != one[0] and other[1] != one[1]
    assert person_keys(Contact("Mei", "+81 3 1234", ""))[1] == ""  # a class: no address


def test_sale_start_must_be_a_finite_time() -> None:
    body = {"product_id": "p_1", "price": 1, "quantity": 1, "duration": 60}
    for starts in (float("nan"), float("inf"), float("-inf"), 1e300):
        with pytest.raises(RuleError, match="starts_at"):
            sale_input({**body, "starts_at": starts}, 1_000_000.0, 1)


def test_sale_validation() -> None:
    now = 1_000_000.0
    sale = sale_input({"product_id": "p_1", "price": 2900, "quantity": 50, "duration": 60},
                      now, default_limit=2)
    assert sale.starts_at == now and sale.ends_at == now + 60 and sale.per_buyer_limit == 2
    later = sale_input({"product_id": "p_1", "price": 1, "quantity": 1, "duration": 60,
                        "start_in": 30}, now, 1)
    assert later.starts_at == now + 30
    for bad in [{"quantity": 0}, {"duration": 1}, {"price": -5}, {"starts_at": now - 3600},
                {"start_in": -1}, {"duration": 10**9}]:
        body = {"product_id": "p_1", "price": 1, "quantity": 1, "duration": 60, **bad}
        with pytest.raises(RuleError):
            sale_input(body, now, 1)


def test_contact_idempotency_chat_likes() -> None:
    c = contact_input({"name": "Li Wei", "phone": "+86 138-0000-0000", "address": "Haikou"})
    assert c.name == "Li Wei"
    with pytest.raises(RuleError) as err:
        contact_input(None)
    assert err.value.code == "contact_required"
    with pytest.raises(RuleError, match="phone"):
        contact_input({"name": "a", "phone": "call me", "address": "b"})
    assert idempotency_key("buy-1234-abcd") == "buy-1234-abcd"
    for bad in ["short", "x" * 81, "has space in it", 12345678, None]:
        with pytest.raises(RuleError):
            idempotency_key(bad)
    assert chat_text("  so   sweet!  ") == "so sweet!"
    with pytest.raises(RuleError):
        chat_text("x" * 301)
    with pytest.raises(RuleError):
        chat_text("   ")
    assert like_count(None) == 1 and like_count(7) == 7
    with pytest.raises(RuleError):
        like_count(51)


def test_order_status_machine() -> None:
    for a, b in [("reserved", "confirmed"), ("confirmed", "shipped"), ("shipped", "delivered"),
                 ("reserved", "cancelled"), ("confirmed", "cancelled")]:
        check_transition(a, b)
    for a, b in [("shipped", "cancelled"), ("delivered", "shipped"), ("cancelled", "confirmed"),
                 ("reserved", "shipped"), ("confirmed", "lost")]:
        with pytest.raises(RuleError):
            check_transition(a, b)


def test_csv_export_is_safe_for_spreadsheets() -> None:
    text = orders_csv([{
        "order_id": "o_1", "created_at_iso": "2026-11-24T10:00:00+00:00", "status": "confirmed",
        "product_title": "=HYPERLINK(\"x\")", "quantity": 2, "unit_price": 3900,
        "currency": "CNY", "name": "Li, Wei", "phone": "+86 138", "address": "1 Road\nHaikou",
    }])
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][0] == "order_id"
    assert rows[1][3].startswith("'=") and rows[1][5] == "39.00" and rows[1][6] == "78.00"
    assert rows[1][8] == "Li, Wei" and rows[1][9] == "'+86 138" and rows[1][10] == "1 Road\nHaikou"
