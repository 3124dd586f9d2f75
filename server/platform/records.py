"""Records read from Redis hashes, one decoder per record type.

A record is a TypedDict declared where its domain lives (server/commerce/records.py,
server/vod/records.py). Redis hands every field back as a string; ``decoder(Record)`` makes
the record's one decoder, which turns the fields the TypedDict declares ``int`` or
``float`` into numbers and leaves every other field a string. The field types are written
once, in the TypedDict, and mypy checks every use: a field the record does not declare is
an error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast, get_type_hints

R = TypeVar("R")


def decoder(record: type[R]) -> Callable[[Mapping[Any, Any]], R]:
    """The decoder of a TypedDict ``record`` whose fields are ``str``, ``int`` or
    ``float``: a hash's fields with the declared ones coerced (fields it does not declare
    are kept, as strings)."""
    hints = get_type_hints(record)
    wrong = {name: kind for name, kind in hints.items() if kind not in (str, int, float)}
    if wrong:
        raise TypeError(f"{record.__name__}: fields must be str, int or float: {wrong}")
    ints = frozenset(name for name, kind in hints.items() if kind is int)
    floats = frozenset(name for name, kind in hints.items() if kind is float)

    def decode(raw: Mapping[Any, Any]) -> R:
        out: dict[str, str | int | float] = {}
        for k, v in raw.items():
            key, val = str(k), str(v)
            out[key] = int(val) if key in ints else float(val) if key in floats else val
        return cast(R, out)

    decode.__name__ = decode.__qualname__ = f"decode_{record.__name__.lower()}"
    return decode
