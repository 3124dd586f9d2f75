"""The stallcast command as a newcomer uses it: serve --demo, host create beside it, config."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from helpers import ROOT
from helpers.servers import Running, free_port
from helpers.shop import Api
from server.accounts.store import token_digest
from server.platform.config import ConfigError, load_config

STALLCAST = [sys.executable, "-m", "server.cli"]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*STALLCAST, *args], capture_output=True, text=True, timeout=60,
                          cwd=ROOT, env={**os.environ, **(env or {})})


async def test_serve_demo_host_create_and_shutdown(tmp_path: Path) -> None:
    port = free_port()
    data = tmp_path / "data"
    proc = subprocess.Popen([*STALLCAST, "serve", "--demo", "--data-dir", str(data),
                             "--port", str(port)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        lines: list[str] = []
        deadline = time.time() + 30
        assert proc.stdout is not None
        while time.time() < deadline and not any("Stream key" in ln for ln in lines):
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
        text = "".join(lines)
        assert "Host studio: http://127.0.0.1:" in text and "#key=sk_" in text, text
        assert "/watch/r_" in text
        key = text.split("Stream key:")[1].strip()
        assert (data / "redis.sock").exists() and (data / "appendonlydir").exists()

        created = run("host", "create", "Tea garden", "--data-dir", str(data))
        assert created.returncode == 0, created.stderr
        host = json.loads(created.stdout)
        assert host["host_id"].startswith("h_") and len(host["token"]) > 30

        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/healthz") as resp:
                assert resp.status == 200
            async with http.post(f"{base}/api/rooms", json={"title": "Oolong tasting"},
                                 headers={"Authorization": f"Bearer {host['token']}"}) as resp:
                assert resp.status == 201
                room = await resp.json()
            assert room["stream_key"] != key
            async with http.get(f"{base}/studio/{room['room_id']}") as resp:
                assert resp.status == 200 and "text/html" in resp.headers["Content-Type"]
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    logs = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any(entry["msg"] == "serving" for entry in logs)
    # The private Redis went down with the server, and its data stayed.
    assert not (data / "redis.sock").exists() or _socket_dead(data / "redis.sock")

    # Restart: the demo room is the same one (AOF kept it).
    again = run("host", "create", "Another", "--data-dir", str(data))
    assert again.returncode == 0


def _socket_dead(path: Path) -> bool:
    import socket

    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(str(path))
        return False
    except OSError:
        return True
    finally:
        s.close()


def test_config_layers(tmp_path: Path) -> None:
    cfg = load_config(env={"STALLCAST_HTTP_PORT": "9123", "STALLCAST_WEBRTC_PUBLIC_IP": "1.2.3.4"})
    assert cfg.http.port == 9123 and cfg.webrtc.public_ip == "1.2.3.4"
    user = tmp_path / "site.toml"
    user.write_text('[http]\nport = 7000\n[webrtc]\nice_servers = "stun:a:3478, turn:b:3478"\n')
    cfg = load_config(user, env={})
    assert cfg.http.port == 7000
    assert cfg.webrtc.ice_server_urls == ["stun:a:3478", "turn:b:3478"]
    for bad, message in [
        ('[http]\nport = "x"\n', "integer"),
        ("[http]\nnope = 1\n", "unknown setting"),
        ("[nope]\na = 1\n", "unknown section"),
        ("[http\n", "invalid TOML"),
        ("[http]\nport = 70000\n", "out of range"),
        ("[webrtc]\nconsent_failures = 2\n", "consent_failures at least 3"),
        ("[commerce]\nchat_window_s = 0\n", "chat_window_s must be at least 1"),
        ("[commerce]\nviewer_mints_per_minute = 0\n", "viewer_mints_per_minute must be"),
        ('[http]\ntrusted_proxies = "10.0.0.0/8, proxy"\n', "'proxy' is not an address"),
    ]:
        user.write_text(bad)
        with pytest.raises(ConfigError, match=message):
            load_config(user, env={})
    with pytest.raises(ConfigError, match="integer"):
        load_config(env={"STALLCAST_HTTP_PORT": "eighty"})
    # Switches are booleans; the 0/1 of older files and env vars still read as such.
    for raw, want in [("0", False), ("false", False), ("1", True), ("true", True)]:
        assert load_config(env={"STALLCAST_METRICS_ENABLED": raw}).metrics.enabled is want
    user.write_text("[recording]\nenabled = 0\n")
    assert load_config(user, env={}).recording.enabled is False
    with pytest.raises(ConfigError, match="true or false"):
        load_config(env={"STALLCAST_METRICS_REQUIRE_AUTH": "maybe"})


def test_every_setting_has_its_default_in_default_toml_only() -> None:
    """The dataclasses name each setting and its type, default.toml its one default: a
    setting missing there is an error, not a silent second default."""
    import tomllib
    from dataclasses import MISSING, fields

    from server.platform.config import DEFAULT_CONFIG, Config

    table = tomllib.loads(DEFAULT_CONFIG.read_text())
    cfg = load_config(env={})
    for section in fields(Config):
        names = {f.name for f in fields(getattr(cfg, section.name))}
        assert names == set(table[section.name]), section.name
        assert all(f.default is MISSING and f.default_factory is MISSING
                   for f in fields(getattr(cfg, section.name))), section.name


def test_bad_config_exits_with_a_clear_message(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[http]\nport = -1\n")
    result = run("serve", "--config", str(bad), "--data-dir", str(tmp_path))
    assert result.returncode == 2
    assert "configuration error" in result.stderr and "http.port" in result.stderr
    result = run("host", "create", "x", "--config", str(tmp_path / "missing.toml"))
    assert result.returncode == 2 and "not found" in result.stderr
    result = run("host", "create", " ", "--data-dir", str(tmp_path / "d"))
    assert result.returncode == 2 and "host name" in result.stderr
    # Bytes that are not UTF-8 arrive as lone surrogates; control characters as they are.
    for name in (os.fsdecode(b"farm \xed\xa0\x80"), os.fsdecode(b"\xff\xfe"), "farm\x1b[2J"):
        result = run("host", "create", name, "--data-dir", str(tmp_path / "d"))
        assert result.returncode == 2 and "host name" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr


async def test_tokens_are_revoked_and_reissued_from_the_cli(server: Running,
                                                            redis_url: str) -> None:
    env = {"STALLCAST_REDIS_URL": redis_url}

    async def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(run, *args, env=env)

    host_id, first = await server.new_host("Tea garden")
    # A token issued before hosts kept an index of their tokens is found all the same.
    await server.ctx.redis.srem(f"host:{host_id}:tokens", token_digest(first))
    _, bystander = await server.new_host("Mango farm")
    operator_id, op_first = await server.ctx.store.create_operator("Night shift")
    async with aiohttp.ClientSession() as http:
        api = Api(server.base, http)

        async def status(path: str, token: str) -> int:
            return (await api.call("GET", path, token))[0]

        assert await status("/api/rooms", first) == 200
        reissued = await cli("host", "token", host_id)
        assert reissued.returncode == 0, reissued.stderr
        body = json.loads(reissued.stdout)
        second = body["token"]
        assert body == {"host_id": host_id, "token": second, "revoked": 1}
        # The running server refuses the old token at once and takes the new one.
        assert await status("/api/rooms", first) == 401
        assert await status("/api/rooms", second) == 200
        assert await status("/api/rooms", bystander) == 200

        listed = await cli("host", "list")
        hosts = json.loads(listed.stdout)["hosts"]
        assert [(h["host_id"], h["name"]) for h in hosts][0] == (host_id, "Tea garden")
        assert len(hosts) == 2 and second not in listed.stdout and bystander not in listed.stdout

        revoked = await cli("host", "revoke", host_id)
        assert json.loads(revoked.stdout) == {"host_id": host_id, "revoked": 1}
        assert await status("/api/rooms", second) == 401
        assert await status("/api/rooms", bystander) == 200

        assert await status("/api/ops/sessions", op_first) == 200
        op_body = json.loads((await cli("operator", "token", operator_id)).stdout)
        assert op_body["operator_id"] == operator_id and op_body["revoked"] == 1
        assert await status("/api/ops/sessions", op_first) == 401
        assert await status("/api/ops/sessions", op_body["token"]) == 200
        operators = json.loads((await cli("operator", "list")).stdout)["operators"]
        assert [o["operator_id"] for o in operators] == [operator_id]
        assert (await cli("operator", "revoke", operator_id)).returncode == 0
        assert await status("/api/ops/sessions", op_body["token"]) == 401

        missing = await cli("host", "revoke", "h_000000000000")
        assert missing.returncode == 2 and "no such host" in missing.stderr
