"""Text as Stallcast stores it: encodable UTF-8, no control characters, bounded length.

Plain functions with no I/O, shared by the HTTP edge, the data channel, commerce rules and
the CLI, so a lone surrogate or a control character is refused the same way everywhere.
"""

from __future__ import annotations

import re
from typing import Any

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
    if not encodable(value):
        raise TextError(f"{name} contains characters that cannot be encoded")
    if not multiline and ("\n" in value or "\r" in value):
        value = " ".join(value.split())
    if _CONTROLS.search(value):
        raise TextError(f"{name} contains control characters")
    value = value.strip()
    if required and not value:
        raise TextError(f"{name} must be a non-empty string")
    if len(value) > max_len:
        raise TextError(f"{name} longer than {max_len} characters")
    return value
