"""Chat and like rules as plain functions: what a message may say, what a name may be."""

from __future__ import annotations

from typing import Any

from server.platform.errors import RuleError
from server.platform.text import TextError, clean_text, int_field, text_field

CHAT_MAX = 300
LIKES_MAX_PER_MESSAGE = 50


def chat_text(value: Any) -> str:
    if isinstance(value, str):
        value = " ".join(value.split())
        if len(value) > CHAT_MAX:
            raise RuleError(f"chat text longer than {CHAT_MAX} characters", code="too_long")
    return text_field({"text": value}, "text", CHAT_MAX)


CHAT_NAME_MAX = 40


def chat_name(value: Any) -> str:
    """A chat display name; anything unusable becomes "viewer" rather than an error."""
    try:
        return clean_text(value, "name", CHAT_NAME_MAX * 4)[:CHAT_NAME_MAX] or "viewer"
    except TextError:
        return "viewer"


def like_count(value: Any) -> int:
    return int_field({} if value is None else {"count": value}, "count", 1,
                     LIKES_MAX_PER_MESSAGE, default=1)
