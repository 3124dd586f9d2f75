"""OpenAPI for buyer accounts: sign-in codes and signing in (server/web/account.py)."""

from __future__ import annotations

from typing import Any

from server.web.openapi_commerce import BAD, VIEWER, _err, _json, _limited, _op

PHONE = {"type": "string", "maxLength": 32,
         "description": "+<country code><number>, 8-15 digits; spaces, dashes, dots and "
                        "brackets are ignored, 00 counts as +"}


def _with_body(op: dict[str, Any], properties: dict[str, Any]) -> dict[str, Any]:
    op["requestBody"] = {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": sorted(properties), "properties": properties,
        "additionalProperties": False}}}}
    return op


def account_paths() -> dict[str, Any]:
    auth = {"401": _err("no or bad viewer token, or code merged: this identity signed in "
                        "to an account")}
    return {
        "/api/account/code": {
            "post": _with_body(_op(
                "Text a 6-digit sign-in code to the phone (accounts.sms_provider); it lives "
                "accounts.code_ttl_s and replaces any code pending for the number", VIEWER, {
                    "202": _json("sent: expires_in (s) and the masked phone"), **BAD,
                    **auth, "429": _limited("too many codes for this number or from this "
                                            "address, or the number is locked for its "
                                            "wrong codes today"),
                    "503": _err("the SMS gateway failed")}), {"phone": PHONE}),
        },
        "/api/account/signin": {
            "post": _with_body(_op(
                "Sign in with the code (single use; accounts.code_attempts wrong tries burn "
                "it). The first identity to sign in with a number becomes its account; any "
                "other is merged into it (orders, classes, follows, nickname, mutes) and its "
                "token answers 401 merged from then on. Returns the account's viewer_id and "
                "token, the masked phone, outcome (new, same, merge) and what moved", VIEWER, {
                    "200": _json("the account's identity"), **BAD, **auth,
                    "409": _err("this identity is already another number's account"),
                    "429": _limited("accounts.max_wrong_per_day wrong codes for this number "
                                    "today: locked until that day is over")}),
                {"phone": PHONE, "code": {"type": "string", "pattern": "^[0-9]{6}$"}}),
        },
    }
