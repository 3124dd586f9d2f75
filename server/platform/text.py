"""Text as Stallcast stores it: encodable UTF-8, no control characters, bounded length.

Plain functions with no I/O, shared by the HTTP edge, the data channel, commerce rules and
the CLI, so a lone surrogate or a control character is refused the same way everywhere.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from server.platform.errors import RuleError

# C0 controls and DEL, but not tab, newline or carriage return; also the bidi overrides
# that can make text display as something else.
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]")


class TextError(ValueError):
    """Text that cannot be stored; the message is safe to show."""


def encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def clean_text(value: Any, name: str, max_len: int, *, required: bool = True,
               multiline: bool = False) -> str:
    """A text field as stored: a string, encodable, without control characters, trimmed,
    at most ``max_len`` characters. Raises TextError naming the field."""
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise TextError(f"{name} must be a string")
    text: str = value
    if not encodable(text):
        raise TextError(f"{name} contains characters that cannot be encoded")
    if not multiline and ("\n" in text or "\r" in text):
        text = " ".join(text.split())
    if _CONTROLS.search(text):
        raise TextError(f"{name} contains control characters")
    text = text.strip()
    if required and not text:
        raise TextError(f"{name} must be a non-empty string")
    if len(text) > max_len:
        raise TextError(f"{name} longer than {max_len} characters")
    return text


def text_field(body: Mapping[str, Any], key: str, max_len: int, required: bool = True,
               multiline: bool = False) -> str:
    """A text field of a request body, as clean_text keeps it; a RuleError naming it."""
    try:
        return clean_text(body.get(key, None if required else ""), key, max_len,
                          required=required, multiline=multiline)
    except TextError as exc:
        raise RuleError(str(exc)) from None


def id_field(body: Mapping[str, Any], key: str, max_len: int = 64) -> str:
    """The id of another record (a product, a sale) named in a request body."""
    value = body.get(key)
    if not isinstance(value, str) or not 0 < len(value) <= max_len:
        raise RuleError(f"{key} must be a string")
    return value


def int_field(body: Mapping[str, Any], key: str, lo: int, hi: int,
              default: int | None = None) -> int:
    """An integer field (not a bool, not a float) within [lo, hi]; a RuleError if not."""
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise RuleError(f"{key} must be an integer")
    if not lo <= value <= hi:
        raise RuleError(f"{key} must be between {lo} and {hi}")
    return value
