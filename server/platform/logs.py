"""Structured logging: one JSON object per line on stderr, with secrets scrubbed out.

Log lines end up in files, terminals and log shippers that are far less guarded than the
data folder, so nothing that grants access may reach one: a client can put its token into
a malformed header and aiohttp logs the raw line. ``RedactingFilter`` sits on the handler
and scrubs every record before it is formatted, whoever logged it.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import Any

_RESERVED = set(vars(logging.makeLogRecord({})))

REDACTED = "[redacted]"
_URLSAFE = r"A-Za-z0-9_\-"
# (pattern, replacement); applied in order to every piece of text a record carries.
_RULES: list[tuple[re.Pattern[str], str]] = [
    # The whole value of an Authorization or Cookie header or field, whatever its scheme.
    (re.compile(r"(?i)((?:authorization|cookie)['\"]?\s*[:=]\s*['\"]?)[^\r\n'\"]+"),
     r"\1" + REDACTED),
    # A bearer credential anywhere (host, operator and viewer tokens, stream keys).
    (re.compile(r"(?i)(\bbearer\s+)[^\s'\",;]+"), r"\1" + REDACTED),
    # key=…, token: …, "secret": "…", and the sig/exp/scope of signed replay URLs.
    (re.compile(r"(?i)((?<![A-Za-z0-9])(?:token|key|secret|password|credential|sig|exp|scope)"
                r"['\"]?\s*[:=]\s*['\"]?)[^\s'\",;&#]+"), r"\1" + REDACTED),
    # Stream keys: "sk_" + token_urlsafe(32).
    (re.compile(rf"\bsk_[{_URLSAFE}]{{8,}}"), "sk_" + REDACTED),
    # Viewer tokens "v_<16 hex>.<32 hex>": the id may stay, the signature may not.
    (re.compile(r"\b(v_[0-9a-f]{16})\.[0-9a-f]{32}\b"), r"\1." + REDACTED),
    # Host and operator tokens (token_urlsafe(32): 43 characters) wherever they stand alone.
    (re.compile(rf"(?<![{_URLSAFE}])[{_URLSAFE}]{{43}}(?![{_URLSAFE}])"), REDACTED),
    # 64 hex digits: the viewer/URL signing secret has this shape.
    (re.compile(r"(?<![0-9A-Fa-f])[0-9A-Fa-f]{64}(?![0-9A-Fa-f])"), REDACTED),
]
# Extra fields named like a secret ("token", "stream_key", "sig") are dropped whole.
_SECRET_FIELD = re.compile(
    r"(?i)(^|_)(token|key|secret|password|credential|authorization|cookie|sig|signature)($|_)")


def redact(text: str) -> str:
    """``text`` with every credential-shaped part replaced by ``[redacted]``."""
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Scrubs a record's message, arguments, exception and stack text and extra fields.

    The message is formatted here (args folded in) so a secret passed as an argument is
    caught too; the exception text is rendered once and stored in ``exc_text``, which both
    formatters print instead of re-rendering ``exc_info``.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep what we can, scrubbed
            message = f"{record.msg!s} {record.args!r}"
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for key, value in list(vars(record).items()):
            if key in _RESERVED or key.startswith("_") or isinstance(value, (bool, int, float)):
                continue
            text = value if isinstance(value, str) else str(value)
            setattr(record, key, REDACTED if _SECRET_FIELD.search(key) else redact(text))
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value if isinstance(value, (int, float, str, bool)) else str(value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(level: str = "INFO", fmt: str = "json") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiortc/aioice are chatty at INFO about every ICE check.
    for noisy in ("aioice", "aiortc"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.Formatter.converter = time.gmtime
