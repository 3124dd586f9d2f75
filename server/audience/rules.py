"""Chat and like rules as plain functions: what a message may say, what a name may be."""

from __future__ import annotations

import unicodedata
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


NICKNAME_MAX = 24
FILTER_WORD_MAX = 40


def nickname(value: Any) -> str:
    """A nickname as ``PUT /api/me`` takes it: 1-24 characters of clean text."""
    try:
        return clean_text(value, "nickname", NICKNAME_MAX)
    except TextError as exc:
        raise RuleError(str(exc)) from None


def chat_name(value: Any) -> str:
    """The optional ``name`` a chat message carries (it sets the nickname): cut to 24
    characters; anything unusable is "" (no change) rather than an error, so an old page
    that sends a long or odd name still chats."""
    try:
        return clean_text(value, "name", NICKNAME_MAX * 4)[:NICKNAME_MAX].strip()
    except TextError:
        return ""


def folded(text: str) -> str:
    """Text as the keyword filter compares it: NFKC, case folded (so full-width "ＢＡＤ" and
    "bad" are one word), spaces collapsed."""
    once = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(unicodedata.normalize("NFKC", once).split())


def filter_words(value: Any, max_words: int) -> list[str]:
    """A room's keyword list as the host sends it: at most ``max_words`` words of 1-40
    characters, duplicates (after folding) dropped, order kept."""
    if not isinstance(value, list):
        raise RuleError("words must be a list of strings")
    if len(value) > max_words:
        raise RuleError(f"at most {max_words} words")
    words: list[str] = []
    seen: set[str] = set()
    for item in value:
        try:
            word = clean_text(item, "word", FILTER_WORD_MAX)
        except TextError as exc:
            raise RuleError(str(exc)) from None
        if folded(word) not in seen:
            seen.add(folded(word))
            words.append(word)
    return words


def like_count(value: Any) -> int:
    return int_field({} if value is None else {"count": value}, "count", 1,
                     LIKES_MAX_PER_MESSAGE, default=1)
