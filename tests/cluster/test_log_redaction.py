"""No token, stream key or signed-URL signature reaches a log line or an error body.

aiohttp logs a request it cannot parse with the raw offending line, and answered it with
that line too: an Authorization header with a control character in it put the host's token
into server.log.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from helpers import ROOT
from helpers.procs import wait_healthy
from helpers.servers import free_port
from helpers.shop import Api


async def raw_request(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()


async def test_serve_never_logs_or_echoes_credentials(tmp_path: Path) -> None:
    data = tmp_path / "data"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    stderr = tmp_path / "serve.err"
    with stderr.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve", "--data-dir", str(data),
             "--port", str(port)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err,
            env={**os.environ, "STALLCAST_LOG_LEVEL": "INFO"})
    try:
        await wait_healthy(base)
        created = subprocess.run(
            [sys.executable, "-m", "server.cli", "host", "create", "Tea garden",
             "--data-dir", str(data)], capture_output=True, text=True, cwd=ROOT, timeout=60,
            check=True)
        token = json.loads(created.stdout)["token"]
        async with aiohttp.ClientSession() as http:
            api = Api(base, http)
            room = await api.ok("POST", "/api/rooms", token, {"title": "Oolong"})
            _, viewer = await api.viewer()
        key, rid = room["stream_key"], room["room_id"]
        sig = secrets.token_hex(16)
        exp = str(int(time.time()) + 3600)
        secrets_sent = [token, key, key.removeprefix("sk_"), viewer.split(".")[1], sig]
        host = b"Host: 127.0.0.1\r\n"
        bad = [
            b"GET /api/rooms HTTP/1.1\r\n" + host
            + f"Authorization: Bearer {token}".encode() + b"\x01\r\n\r\n",
            f"POST /whip/{rid} HTTP/1.1\r\n".encode() + host
            + f"Authorization: Bearer {key}".encode() + b"\x7f\x00\r\n\r\n",
            b"GET /api/me HTTP/1.1\r\n" + host
            + f"Authorization: Bearer {viewer}".encode() + b"\x1b[0m\r\n\r\n",
            f"GET /vod/c_1/index.m3u8?exp={exp}&scope=full&sig={sig} HTTP/1.1 x\r\n".encode()
            + host + b"\r\n",
            f"GET /vod/c_1/index.m3u8?exp={exp}&scope=full&sig={sig}".encode()
            + b"\x01 HTTP/1.1\r\n" + host + b"\r\n",
            b"GET / HTTP/1.1\r\n" + host + f"X-Token\x01: {token}".encode() + b"\r\n\r\n",
        ]
        for request in bad:
            answer = await raw_request(port, request)
            assert answer.startswith(b"HTTP/1.") and b" 400 " in answer.split(b"\r\n")[0]
            assert b"nosniff" in answer
            for secret in secrets_sent:
                assert secret.encode() not in answer, (request, answer)
        async with aiohttp.ClientSession() as http, http.get(f"{base}/healthz") as resp:
            assert resp.status == 200
        # A good request with the token still works after all that.
        async with aiohttp.ClientSession() as http:
            assert (await Api(base, http).call("GET", "/api/rooms", token))[0] == 200
    finally:
        proc.terminate()
        proc.wait(30)
    log = stderr.read_text()
    assert log.count("Error handling request") >= len(bad), log  # they were logged...
    assert "[redacted]" in log
    for secret in secrets_sent:
        assert secret not in log, secret  # ...without what they carried
    assert "Invalid header value char" in log  # and still say what happened


@pytest.fixture
def captured_root(capsys: pytest.CaptureFixture[str]) -> Iterator[None]:
    """The root logger as setup_logging leaves it, restored afterwards for pytest."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_filter_scrubs_messages_args_exceptions_and_extras(
        fmt: str, captured_root: None, capsys: pytest.CaptureFixture[str]) -> None:
    from server.platform.logs import setup_logging

    setup_logging("INFO", fmt)
    log = logging.getLogger("stallcast.test")
    token = secrets.token_urlsafe(32)
    key = "sk_" + secrets.token_urlsafe(32)
    viewer = f"v_{secrets.token_hex(8)}.{secrets.token_hex(16)}"
    sig = secrets.token_hex(16)
    signing_secret = secrets.token_hex(32)
    url = f"/vod/c_1/index.m3u8?exp=1999999999&scope=full&sig={sig}"
    log.warning("auth failed for %s", f"Bearer {token}")
    log.warning("publisher refused: key=%s from %s", key, "10.0.0.7")
    log.warning("stray token %s and viewer %s", token, viewer)
    log.info("served", extra={"url": url, "stream_key": key, "count": 3,
                              "headers": {"Authorization": f"Bearer {token}"},
                              "secret": signing_secret})
    try:
        raise ValueError(f"Invalid header:\n  b'Authorization: Bearer {token}\\x01'\n"
                         f"  stream {key}")
    except ValueError:
        log.exception("request blew up at %s", url)
    log.error("loaded %s", signing_secret, stack_info=True)
    out = capsys.readouterr().err
    lines = out.strip().splitlines()
    assert len(lines) >= 6, out
    for secret in (token, key, key.removeprefix("sk_"), viewer.split(".")[1], sig,
                   signing_secret):
        assert secret not in out, (secret, out)
    # What the lines are about survives: the words, the viewer id, the address, the count.
    for kept in ("auth failed for", "publisher refused", viewer.split(".")[0], "10.0.0.7",
                 "ValueError", "/vod/c_1/index.m3u8", "request blew up"):
        assert kept in out, (kept, out)
    if fmt == "json":
        entries = [json.loads(line) for line in lines if line.startswith("{")]
        served = next(e for e in entries if e["msg"] == "served")
        assert served["count"] == 3 and served["stream_key"] == "[redacted]"
        blew = next(e for e in entries if e["msg"].startswith("request blew up"))
        assert "ValueError" in blew["exc"] and "[redacted]" in blew["exc"]
