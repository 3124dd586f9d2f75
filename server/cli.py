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
import ssl
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis
from aiohttp import web

from server.accounts.store import Room, Store
from server.commerce.rules import PRODUCT_FIELDS, product_input
from server.platform.config import Config, ConfigError, load_config
from server.platform.logs import setup_logging
from server.platform.redis_server import PrivateRedis, RedisServerError, socket_path, socket_url
from server.web.serving import ServeRunner

if TYPE_CHECKING:
    from server.live.context import AppContext

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
                       help="a demo host, operator, room and products; print their links")
    serve.add_argument("--lan", action="store_true",
                       help="HTTPS on this machine's LAN address (self-signed certificate in "
                            "the data folder unless http.tls_cert/tls_key are set), so a phone "
                            "on the same network can go live; prints QR codes with --demo")
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
    host = getattr(args, "host", None)
    if host is None and getattr(args, "lan", False):
        from server.platform.tls import lan_address

        host = lan_address()  # --lan listens where the phones are; a --host given wins
    overrides: dict[str, dict[str, Any]] = {
        "http": {"host": host, "port": getattr(args, "port", None)},
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


DEMO_HOST = "Demo farm"
DEMO_ROOM = "Fresh mangoes, live from the orchard"
DEMO_OPERATOR = "Demo operator"
# The demo's catalogue: pictures shipped in web_client/demo/, the first one pinned.
DEMO_PRODUCTS: list[dict[str, Any]] = [
    {"title": "Alphonso mangoes, 2 kg box", "price": 8800, "stock": 40, "picture": "mangoes",
     "description": "Picked ripe this morning, packed in straw. Ships in two days."},
    {"title": "Lychees", "picture": "lychees", "shipping_fee": 1200,
     "variants": [{"label": "1 kg", "price": 4500, "stock": 60},
                  {"label": "3 kg", "price": 11900, "stock": 20}],
     "description": "Sweet Feizixiao lychees, kept cool from the tree to your door."},
    {"title": "Heirloom tomatoes, mixed 1.5 kg", "price": 3200, "stock": 25,
     "picture": "tomatoes", "shipping_fee": 800,
     "description": "Red, gold, black and green: four old varieties."},
    {"title": "Mango pickle workshop (online class)", "price": 9900, "stock": 100,
     "picture": "workshop", "per_buyer_limit": 1,
     "description": "Two hours with the farm's cook: cutting, spicing and jarring."},
]


DEMO_NOTICE = "The studio and operator links sign you in: share only the viewer link."


@dataclass(frozen=True)
class Demo:
    room: Room
    host_token: str
    operator_token: str


async def _demo_account(store: Store, kind: str, name: str) -> tuple[str, str]:
    """The demo host or operator kept under ``demo:{kind}``, with a fresh token: every
    start revokes the previous ones, so only the links printed last sign anyone in."""
    raw = await store.redis.get(f"demo:{kind}")
    saved = str(raw) if raw is not None else ""
    if saved and await store.redis.exists(f"{kind}:{saved}"):
        token, _ = await store.reissue_token(kind, saved)
        return saved, token
    if kind == "host":
        host, token = await store.create_host(name)
        owner_id = host.host_id
    else:
        owner_id, token = await store.create_operator(name)
    await store.redis.set(f"demo:{kind}", owner_id)
    return owner_id, token


async def _demo(context: AppContext) -> Demo:
    """The demo host, operator, room and catalogue, made on the first start and kept."""
    store = context.store
    room = None
    saved = await store.redis.get("demo:room")
    if saved is not None:
        room = await store.get_room(str(saved))
    if room is not None and not await store.redis.exists("demo:host"):
        await store.redis.set("demo:host", room.host_id)  # a demo made before demo:host
    host_id, host_token = await _demo_account(store, "host", DEMO_HOST)
    if room is None or room.host_id != host_id:
        room = await store.create_room(host_id, DEMO_ROOM)
        await store.redis.set("demo:room", room.room_id)
        await store.redis.delete("demo:products")
    _, operator_token = await _demo_account(store, "operator", DEMO_OPERATOR)
    if not await store.redis.exists("demo:products"):
        ids = []
        for number, item in enumerate(DEMO_PRODUCTS):
            made = await context.commerce.create_product(host_id, product_input(
                _demo_product(item)))
            product = await context.commerce.get_product(str(made["product_id"]))
            if product is None:
                continue
            await context.commerce.attach(room.room_id, product)
            if number == 0:
                await context.commerce.pin(room.room_id, product)
            ids.append(product["product_id"])
        await store.redis.set("demo:products", json.dumps(ids))
    return Demo(room, host_token, operator_token)


def _demo_product(item: dict[str, Any]) -> dict[str, Any]:
    body = {k: v for k, v in item.items() if k != "picture"}
    body.update(currency="CNY", image=f"/static/demo/{item['picture']}.jpg")
    if "thumb" in PRODUCT_FIELDS:  # products with thumbnails (issue 12): use the small one
        body["thumb"] = f"/static/demo/{item['picture']}-thumb.jpg"
    return body


def _print_demo(demo: Demo, base: str, lan: bool) -> None:
    """The links, on stdout and never in the log: two of them sign their opener in."""
    room_id = demo.room.room_id
    studio = f"{base}/studio/{room_id}#signin={demo.host_token}"
    viewer = f"{base}/watch/{room_id}"
    lines = [
        ("Front door:", f"{base}/"),
        ("Host studio:", studio),
        ("Viewer:", viewer),
        ("Class store:", f"{base}/classes"),
        ("Operator:", f"{base}/ops#signin={demo.operator_token}"),
        ("Key only:", f"{base}/studio/{room_id}#key={demo.room.stream_key}"),
        ("WHIP URL:", f"{base}/whip/{room_id}"),
        ("Stream key:", demo.room.stream_key),
    ]
    out = sys.stdout
    out.write("Stallcast demo ready\n")
    if lan:  # above the links, so that they stay in view; they end with the notice
        import segno

        out.write("Scan to watch on a phone (the viewer link):\n")
        segno.make(viewer, error="m").terminal(out=out, compact=True)
        out.write("Scan to go live from a phone (the studio link: it signs in, keep it to "
                  "yourself):\n")
        segno.make(studio, error="l").terminal(out=out, compact=True)
    for label, link in lines:
        out.write(f"  {label:<12} {link}\n")
    out.write(f"  {DEMO_NOTICE}\n")
    out.flush()


def _tls(config: Config, lan: bool) -> tuple[ssl.SSLContext | None, str]:
    """The TLS context `serve` listens with, if any, and the host its links name."""
    from server.platform.tls import TlsError, lan_address, self_signed, server_context

    host = config.http.host
    cert, key = config.http.tls_cert, config.http.tls_key
    if bool(cert) != bool(key):
        raise ConfigError("set both http.tls_cert and http.tls_key, or neither")
    link_host = lan_address() if host in ("0.0.0.0", "::", "") else host
    if lan and not cert:
        cert_path, key_path, made = self_signed(config.data_dir, link_host)
        cert, key = str(cert_path), str(key_path)
        log.info("lan certificate", extra={"made": made, "address": link_host})
    try:
        return (server_context(cert, key) if cert else None), link_host
    except TlsError as exc:
        raise ConfigError(str(exc)) from None


async def _serve(config: Config, demo: bool, lan: bool = False) -> int:
    from server.app import create_app  # aiortc is heavy; only the server needs it
    from server.live.context import CONTEXT
    from server.live.limits import raise_open_file_limit

    files = raise_open_file_limit(config.limits)
    tls, link_host = _tls(config, lan)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with redis_for(config, supervise=True) as url:
        app = create_app(config, url)
        runner = ServeRunner(app, config.limits, config.http.trusted_proxies, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, config.http.host, config.http.port, ssl_context=tls)
        await site.start()
        scheme = "https" if tls is not None else "http"
        base = (config.http.public_url.rstrip("/")
                or f"{scheme}://{link_host}:{config.http.port}")
        log.info("serving", extra={"url": base, "redis": url, "open_file_limit": files,
                                   "tls": tls is not None})
        if demo:
            _print_demo(await _demo(app[CONTEXT]), base, lan)
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

            return uvloop.run(_serve(config, args.demo, args.lan))
        if args.command == "host" and args.host_command == "create":
            return asyncio.run(_host_create(config, args.name))
        if args.command == "operator" and args.operator_command == "create":
            return asyncio.run(_operator_create(config, args.name))
        if args.command in ("host", "operator"):
            command = getattr(args, f"{args.command}_command")
            return asyncio.run(_accounts(config, args.command, command, getattr(args, "id", None)))
    except ConfigError as exc:
        sys.stderr.write(f"stallcast: configuration error: {exc}\n")
        return 2
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
