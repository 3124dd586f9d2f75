"""The ``stallcast`` command: serve, and the admin commands that work beside a running server."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from typing import Any

import redis.asyncio as aioredis
from aiohttp import web

from server.accounts.store import Store
from server.platform.config import Config, ConfigError, load_config
from server.platform.logs import setup_logging
from server.platform.redis_server import PrivateRedis, RedisServerError, socket_path, socket_url
from server.web.serving import ServeRunner

GC_YOUNG_THRESHOLD = 5000

log = logging.getLogger("stallcast")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="TOML file layered over configs/default.toml")
    p.add_argument("--data-dir", help="data folder (private Redis socket and AOF live here)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stallcast", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the server")
    _common(serve)
    serve.add_argument("--host", help="address to listen on (http.host)")
    serve.add_argument("--port", type=int, help="port to listen on (http.port)")
    serve.add_argument("--demo", action="store_true",
                       help="create a demo host and room and print their URLs")
    host = sub.add_parser("host", help="manage hosts")
    host_sub = host.add_subparsers(dest="host_command", required=True)
    create = host_sub.add_parser("create", help="create a host; prints its id and token")
    _common(create)
    create.add_argument("name")
    _token_commands(host_sub, "host")
    operator = sub.add_parser("operator", help="manage operators (see every session's figures)")
    op_sub = operator.add_subparsers(dest="operator_command", required=True)
    op_create = op_sub.add_parser("create", help="create an operator; prints its id and token")
    _common(op_create)
    op_create.add_argument("name")
    _token_commands(op_sub, "operator")
    return parser


def _token_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser], kind: str) -> None:
    """token, revoke and list for hosts or operators: a leaked token is revoked at once,
    on every node, because every request looks its token up in Redis."""
    token = sub.add_parser("token", help=f"revoke every token of a {kind} and print a new one")
    revoke = sub.add_parser("revoke", help=f"revoke every token of a {kind}")
    for p in (token, revoke):
        _common(p)
        p.add_argument("id", metavar=f"{kind.upper()}_ID")
    _common(sub.add_parser("list", help=f"list {kind}s: ids and names, never tokens"))


async def _accounts(config: Config, kind: str, command: str, owner_id: str | None) -> int:
    async with redis_for(config) as url:
        client = aioredis.Redis.from_url(url, decode_responses=True)
        try:
            store = Store(client)
            if command == "list":
                result: dict[str, Any] = {f"{kind}s": await store.accounts(kind)}
            elif command == "revoke":
                result = {f"{kind}_id": owner_id,
                          "revoked": await store.revoke_tokens(kind, str(owner_id))}
            else:
                token, revoked = await store.reissue_token(kind, str(owner_id))
                result = {f"{kind}_id": owner_id, "token": token, "revoked": revoked}
        finally:
            await client.aclose()
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


def _config(args: argparse.Namespace) -> Config:
    overrides: dict[str, dict[str, Any]] = {
        "http": {"host": getattr(args, "host", None), "port": getattr(args, "port", None)},
        "data": {"dir": args.data_dir},
    }
    return load_config(args.config, overrides=overrides)


@contextlib.asynccontextmanager
async def redis_for(config: Config, supervise: bool = False) -> AsyncIterator[str]:
    """The Redis URL to use: the configured one, the running server's private one, or a
    private one started for the duration of the block. With ``supervise`` (serve) the
    private Redis is restarted from its AOF whenever it dies."""
    if config.redis.url:
        yield config.redis.url
        return
    data_dir = config.data_dir
    private = PrivateRedis(data_dir, config.redis.server_bin, config.redis.appendfsync)
    adopted = False
    if socket_path(data_dir).exists():
        probe = aioredis.Redis.from_url(socket_url(data_dir))
        try:
            adopted = bool(await probe.ping())
        except (OSError, aioredis.ConnectionError):
            pass
        finally:
            await probe.aclose()
    if adopted and not supervise:
        yield socket_url(data_dir)
        return
    if not adopted:
        await private.start()
    watcher = asyncio.ensure_future(private.supervise()) if supervise else None
    try:
        yield private.url
    finally:
        if watcher is not None:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
        private.stop()


async def _host_create(config: Config, name: str) -> int:
    async with redis_for(config) as url:
        client = aioredis.Redis.from_url(url, decode_responses=True)
        try:
            host, token = await Store(client).create_host(name)
        finally:
            await client.aclose()
    sys.stdout.write(json.dumps({"host_id": host.host_id, "token": token}) + "\n")
    return 0


async def _operator_create(config: Config, name: str) -> int:
    async with redis_for(config) as url:
        client = aioredis.Redis.from_url(url, decode_responses=True)
        try:
            operator_id, token = await Store(client).create_operator(name)
        finally:
            await client.aclose()
    sys.stdout.write(json.dumps({"operator_id": operator_id, "token": token}) + "\n")
    return 0


async def _demo(store: Store, base: str) -> None:
    room = None
    saved = await store.redis.get("demo:room")
    if saved is not None:
        room = await store.get_room(str(saved))
    if room is None:
        host, _ = await store.create_host("Demo farm")
        room = await store.create_room(host.host_id, "Fresh mangoes, live from the orchard")
        await store.redis.set("demo:room", room.room_id)
    sys.stdout.write(
        "Stallcast demo room ready\n"
        f"  Host studio: {base}/studio/{room.room_id}#key={room.stream_key}\n"
        f"  Viewer:      {base}/watch/{room.room_id}\n"
        f"  WHIP URL:    {base}/whip/{room.room_id}\n"
        f"  Stream key:  {room.stream_key}\n"
    )
    sys.stdout.flush()


async def _serve(config: Config, demo: bool) -> int:
    from server.app import create_app  # aiortc is heavy; only the server needs it
    from server.live.context import CONTEXT
    from server.live.limits import raise_open_file_limit

    files = raise_open_file_limit(config.limits)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with redis_for(config, supervise=True) as url:
        app = create_app(config, url)
        runner = ServeRunner(app, config.limits, config.http.trusted_proxies, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, config.http.host, config.http.port)
        await site.start()
        base = config.http.public_url.rstrip("/") or f"http://{config.http.host}:{config.http.port}"
        log.info("serving", extra={"url": base, "redis": url, "open_file_limit": files})
        if demo:
            await _demo(app[CONTEXT].store, base)
        # Everything allocated so far lives as long as the server: keep the collector off it.
        gc.collect()
        gc.freeze()
        # Each peer connection is ~700 objects that a full collection walks (~120 ms at 500
        # viewers). CPython's default young threshold (700) promotes short-lived aiortc
        # objects into the old generation so fast that full collections ran every few
        # seconds; at 5000 they mostly die young. Event p99 at 500 viewers: 171 -> 46 ms.
        gc.set_threshold(GC_YOUNG_THRESHOLD, 10, 10)
        await stop.wait()
        log.info("shutting down")
        await runner.cleanup()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    # The data folder holds the signing secret, stream keys, buyers' addresses and
    # recordings: everything any command creates there is the owner's alone.
    os.umask(0o077)
    args = build_parser().parse_args(argv)
    try:
        config = _config(args)
    except ConfigError as exc:
        sys.stderr.write(f"stallcast: configuration error: {exc}\n")
        return 2
    setup_logging(config.log.level, config.log.format)
    try:
        if args.command == "serve":
            import uvloop

            return uvloop.run(_serve(config, args.demo))
        if args.command == "host" and args.host_command == "create":
            return asyncio.run(_host_create(config, args.name))
        if args.command == "operator" and args.operator_command == "create":
            return asyncio.run(_operator_create(config, args.name))
        if args.command in ("host", "operator"):
            command = getattr(args, f"{args.command}_command")
            return asyncio.run(_accounts(config, args.command, command, getattr(args, "id", None)))
    except RedisServerError as exc:
        log.error("redis unavailable", extra={"reason": str(exc)})
        return 1
    except ValueError as exc:
        sys.stderr.write(f"stallcast: {exc}\n")
        return 2
    except OSError as exc:
        log.error("cannot start", extra={"reason": str(exc)})
        return 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
