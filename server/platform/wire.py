"""JSON and text at the edge: what the server accepts and what it emits.

Everything a client sends is checked once, here, before any handler sees it: strict JSON
(no NaN or Infinity, no numbers that overflow, bounded nesting) whose every string can be
encoded as UTF-8. A lone surrogate (``"\\ud800"``) is valid JSON but cannot be encoded, so
one stored in a chat message broke every later welcome and snapshot; it never gets in now.
What the server emits is strict JSON too (``allow_nan=False``), so browsers can parse it.
"""

from __future__ import annotations

import json
import math
from functools import partial
from typing import Any

from aiohttp import web

from server.platform.text import TextError, encodable

MAX_DEPTH = 32  # no request body needs more nesting than this

class WireError(TextError):
    """Input that is not acceptable on the wire; the message is safe to show."""


def _reject_constant(name: str) -> Any:
    raise WireError(f"{name} is not a number JSON allows")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise WireError(f"number {text[:20]} is out of range")
    return value


def check_tree(data: Any) -> None:
    """Every string (keys too) encodable, every float finite, nesting within MAX_DEPTH."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise WireError(f"nested deeper than {MAX_DEPTH} levels")
        if isinstance(item, str):
            if not encodable(item):
                raise WireError("text contains characters that cannot be encoded "
                                "(a lone surrogate)")
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise WireError("numbers must be finite")
        elif isinstance(item, dict):
            for key, value in item.items():
                stack.append((key, depth + 1))
                stack.append((value, depth + 1))
        elif isinstance(item, (list, tuple)):
            stack.extend((value, depth + 1) for value in item)


def loads(raw: bytes | str) -> Any:
    """Parse strict JSON; raises WireError with a reason a client can act on."""
    try:
        data = json.loads(raw, parse_constant=_reject_constant, parse_float=_finite_float)
    except WireError:
        raise
    except RecursionError:
        raise WireError(f"nested deeper than {MAX_DEPTH} levels") from None
    except UnicodeDecodeError:
        raise WireError("body is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise WireError(f"invalid JSON: {exc}") from None
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        raise WireError(f"invalid JSON: {exc}") from None
    check_tree(data)
    return data


dumps = partial(json.dumps, allow_nan=False, ensure_ascii=False)


def json_response(data: Any, *, status: int = 200,
                  headers: dict[str, str] | None = None) -> web.Response:
    """Like ``web.json_response`` but never emits NaN/Infinity (it raises instead)."""
    return web.json_response(data, status=status, headers=headers, dumps=dumps)
