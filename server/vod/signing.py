"""Signed, expiring URLs for replay playlists and segments."""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import urlencode


class UrlSigner:
    def __init__(self, secret: bytes, ttl: int) -> None:
        self._secret = secret
        self.ttl = ttl

    def _sig(self, path: str, exp: int, scope: str) -> str:
        msg = f"{path}\n{exp}\n{scope}".encode()
        return hmac.new(self._secret, msg, hashlib.sha256).hexdigest()[:32]

    def sign(self, path: str, scope: str, now: float | None = None) -> str:
        exp = int((time.time() if now is None else now) + self.ttl)
        query = urlencode({"exp": exp, "scope": scope, "sig": self._sig(path, exp, scope)})
        return f"{path}?{query}"

    def verify(self, path: str, exp: str, scope: str, sig: str) -> bool:
        try:
            expires = int(exp)
        except ValueError:
            return False
        if expires < time.time():
            return False
        return hmac.compare_digest(sig.encode(), self._sig(path, expires, scope).encode())
