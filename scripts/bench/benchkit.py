"""Shared helpers for the Stallcast benchmarks in this folder (events.py, flashbuy.py).

Not a benchmark itself. It holds what every benchmark needs: a real ``stallcast serve``
process on a fresh data folder (its own private redis-server), the host/room/product calls,
worker processes that talk to the orchestrator in JSON lines, lightweight aiortc WHEP viewers
with a data channel, CPU and memory readings from /proc, and latency percentiles.

The benchmarks import it as ``benchkit`` (Python puts a script's own folder on sys.path).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import math
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("bench.kit")

REPO = Path(__file__).resolve().parents[2]
CLK_TCK = os.sysconf("SC_CLK_TCK")


def buyer_contact(tag: str) -> dict[str, str]:
    """A distinct person per buyer: limits hold per phone and address as well as per
    identity, so a crowd of buyers needs a crowd of contacts."""
    n = int(hashlib.sha256(tag.encode()).hexdigest()[:12], 16) % 10**9
    return {"name": f"Buyer {n % 10000}", "phone": f"+86 13{n:09d}",
            "address": f"{n} Binhai Road, Haikou"}
LINE_LIMIT = 1 << 27  # bytes in one protocol line (worker reports can be large)


# --------------------------------------------------------------------------------------------
# Process plumbing


def setup_logging(role: str, verbose: bool = False) -> None:
    """Logs go to stderr; stdout is kept for the one JSON document (or protocol lines)."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format=f"%(asctime)s {role} %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("bench").setLevel(logging.INFO)


def run_async(main: Awaitable[Any]) -> Any:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)  # type: ignore[arg-type]
    return uvloop.run(main)  # type: ignore[arg-type]


def raise_nofile() -> int:
    """Raise this process's open-file limit to the hard limit; returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def write_result(document: dict[str, Any]) -> None:
    """The benchmark's single JSON document on stdout."""
    sys.stdout.write(json.dumps(document, indent=2) + "\n")
    sys.stdout.flush()


def emit(event: dict[str, Any]) -> None:
    """One protocol line from a worker process to the orchestrator."""
    sys.stdout.write(json.dumps(event, separators=(",", ":")) + "\n")
    sys.stdout.flush()


async def read_command() -> str:
    """The next line the orchestrator sends on stdin ("" at EOF)."""
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    return line.strip() if line else ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def default_route() -> str | None:
    """The interface of a default route (IPv4 or IPv6), if this network namespace has one."""
    with contextlib.suppress(OSError), open("/proc/net/route") as f:
        for line in f.readlines()[1:]:
            cols = line.split()
            if len(cols) > 7 and cols[1] == "00000000" and cols[7] == "00000000":
                return cols[0]
    with contextlib.suppress(OSError), open("/proc/net/ipv6_route") as f:
        for line in f:
            cols = line.split()
            if (len(cols) == 10 and cols[0] == "0" * 32 and cols[1] == "00"
                    and cols[9] != "lo"):
                return cols[9]
    return None


def require_private_network(allow: bool) -> None:
    """WebRTC peers on one machine connect over its interface address, not 127.0.0.1, so a
    benchmark that opens peer connections must run in a namespace of its own."""
    iface = default_route()
    if iface is not None and not allow:
        raise SystemExit(
            f"this network namespace has a default route (via {iface}); run the benchmark "
            "inside a private one: scripts/netns-run python3 " + " ".join(sys.argv)
            + "  (or pass --allow-network to run here anyway)")


# --------------------------------------------------------------------------------------------
# /proc readings


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def open_fds(pid: int) -> int | None:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def children_of(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid:
            out.append(int(entry))
    return out


def machine_busy() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat") as f:
        parts = [int(x) for x in f.readline().split()[1:]]
    idle = parts[3] + (parts[4] if len(parts) > 4 else 0)
    return sum(parts) - idle, sum(parts)


class CpuWindow:
    """CPU used by some processes over a wall-clock window, as % of one core."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.start_wall = 0.0
        self.start_cpu: dict[str, float] = {}
        self.start_machine = (0, 0)
        self.result: dict[str, Any] = {}

    def _read(self) -> dict[str, float]:
        out = {}
        for name, pid in self.pids.items():
            with contextlib.suppress(OSError):
                out[name] = cpu_seconds(pid)
        return out

    def start(self) -> None:
        self.start_wall = time.time()
        self.start_cpu = self._read()
        self.start_machine = machine_busy()

    def stop(self) -> dict[str, Any]:
        wall = time.time() - self.start_wall
        now = self._read()
        busy, total = machine_busy()
        pct = {name: round(100 * (now[name] - self.start_cpu[name]) / wall, 1)
               for name in now if name in self.start_cpu}
        self.result = {
            "seconds": round(wall, 2),
            "cpu_pct_of_one_core": pct,
            "machine_busy_pct": round(100 * (busy - self.start_machine[0])
                                      / max(1, total - self.start_machine[1]), 1),
            "cpu_seconds": {name: round(now[name] - self.start_cpu[name], 3)
                            for name in now if name in self.start_cpu},
        }
        return self.result


def percentiles(values: Sequence[float], scale: float = 1000.0) -> dict[str, Any]:
    """p50/p95/p99/max (nearest rank) of ``values`` in seconds, reported as ms by default."""
    if not values:
        return {"count": 0, "p50": None, "p95": None, "p99": None, "max": None}
    ordered = sorted(values)

    def rank(p: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]

    return {"count": len(ordered), "p50": round(rank(50) * scale, 2),
            "p95": round(rank(95) * scale, 2), "p99": round(rank(99) * scale, 2),
            "max": round(ordered[-1] * scale, 2), "min": round(ordered[0] * scale, 2)}


# --------------------------------------------------------------------------------------------
# The server under test


def _raise_nofile_in_child() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = max(soft, 1 << 20)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Server:
    """``python -m server.cli serve`` on a fresh data folder; it starts its own redis-server.

    The server gets the hard open-file limit as its soft limit (one UDP socket per peer, plus
    HTTP connections). Its log goes to a file in the data folder, shown on failure.
    """

    def __init__(self, data_dir: Path | None = None, log_level: str = "WARNING",
                 env: dict[str, str] | None = None, root: Path = REPO) -> None:
        """``root``: the source tree whose server to run (e.g. a worktree of an older
        commit, for a before/after comparison)."""
        self.root = root.resolve()
        self.own_dir = data_dir is None
        self.data_dir = data_dir or Path(tempfile.mkdtemp(prefix="stallcast-bench-"))
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "STALLCAST_LOG_LEVEL": log_level,
                    "STALLCAST_LOG_FORMAT": "text",
                    # The load comes from one address: hundreds of identities in a second.
                    "STALLCAST_COMMERCE_VIEWER_MINTS_PER_MINUTE": "100000",
                    "STALLCAST_LIMITS_CONNECTIONS_PER_CLIENT": "5000",
                    "STALLCAST_LIMITS_HALF_OPEN_PER_CLIENT": "1000", **(env or {}),
                    "PYTHONPATH": os.pathsep.join([str(self.root)] + [
                        p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])}
        self.proc: subprocess.Popen[bytes] | None = None
        self.redis_pid: int | None = None
        self.log_path = self.data_dir / "serve.log"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def start(self, timeout: float = 30) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as logf:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "server.cli", "serve", "--data-dir", str(self.data_dir),
                 "--port", str(self.port)],
                cwd=self.root, env=self.env, stdin=subprocess.DEVNULL, stdout=logf,
                stderr=subprocess.STDOUT, preexec_fn=_raise_nofile_in_child)
        import aiohttp

        deadline = time.time() + timeout
        async with aiohttp.ClientSession() as http:
            while time.time() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"server exited with {self.proc.returncode}:\n"
                                       + self.log_tail())
                try:
                    async with http.get(f"{self.base}/healthz") as resp:
                        if resp.status == 200:
                            kids = [p for p in children_of(self.proc.pid)
                                    if b"redis" in _cmdline(p)]
                            self.redis_pid = kids[0] if kids else None
                            log.info("server up at %s (pid %d)", self.base, self.proc.pid)
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise TimeoutError(f"{self.base} never became healthy:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def host_create(self, name: str) -> str:
        """A host token from the admin command, which finds the running server's Redis."""
        out = subprocess.run(
            [sys.executable, "-m", "server.cli", "host", "create", name,
             "--data-dir", str(self.data_dir)],
            cwd=self.root, env=self.env, capture_output=True, text=True, timeout=60, check=True)
        return str(json.loads(out.stdout.strip().splitlines()[-1])["token"])

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                log.warning("server ignored SIGTERM; killing it")
                self.proc.kill()
                self.proc.wait()
        # The server stops its private Redis on a clean exit; make sure of it otherwise.
        if self.redis_pid is not None and b"redis" in _cmdline(self.redis_pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.redis_pid, signal.SIGTERM)
        if self.own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


class Api:
    """A tiny JSON client that returns (status, body) and never raises on 4xx/5xx."""

    def __init__(self, base: str, http: Any) -> None:
        self.base = base
        self.http = http

    async def call(self, method: str, path: str, token: str | None = None,
                   json_body: Any = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.http.request(method, self.base + path, json=json_body,
                                     headers=headers) as resp:
            if resp.content_type == "application/json":
                return resp.status, await resp.json()
            return resp.status, await resp.text()

    async def ok(self, method: str, path: str, token: str | None = None,
                 json_body: Any = None) -> Any:
        status, body = await self.call(method, path, token, json_body)
        if not 200 <= status < 300:
            raise RuntimeError(f"{method} {path} answered {status}: {str(body)[:300]}")
        return body

    async def orders(self, host: str, room_id: str) -> list[dict[str, Any]]:
        """All of a room's orders, page after page (an API page holds at most 500)."""
        out: list[dict[str, Any]] = []
        cursor: str | None = ""
        while cursor is not None:
            page = await self.ok("GET", f"/api/orders?room_id={room_id}&limit=500"
                                        f"&after={cursor}", host)
            out.extend(page["orders"])
            cursor = page["next"]
        return out

    async def viewer_token(self) -> str:
        return str((await self.ok("POST", "/api/viewers"))["token"])

    async def room(self, host: str, title: str) -> str:
        return str((await self.ok("POST", "/api/rooms", host, {"title": title}))["room_id"])

    async def product(self, host: str, **fields: Any) -> dict[str, Any]:
        body = {"title": "Alphonso mangoes 1 kg", "price": 3900, "currency": "CNY",
                "stock": 1000, "per_buyer_limit": 5, **fields}
        return dict(await self.ok("POST", "/api/products", host, body))


# --------------------------------------------------------------------------------------------
# Worker processes


class Child:
    """A worker process speaking JSON lines: events on its stdout, commands on its stdin."""

    def __init__(self, name: str, proc: asyncio.subprocess.Process) -> None:
        self.name = name
        self.proc = proc

    @classmethod
    async def spawn(cls, name: str, argv: list[str]) -> Child:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, *argv, cwd=REPO, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, limit=LINE_LIMIT)
        return cls(name, proc)

    async def send(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((command + "\n").encode())
        await self.proc.stdin.drain()

    async def expect(self, event: str, timeout: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        deadline = time.time() + timeout
        while True:
            remaining = deadline - time.time()
            if remaining <= 0:
                raise TimeoutError(f"{self.name}: no {event!r} within {timeout:.0f} s")
            line = await asyncio.wait_for(self.proc.stdout.readline(), remaining)
            if not line:
                raise RuntimeError(f"{self.name} exited (code {await self.proc.wait()}) "
                                   f"before {event!r}")
            try:
                message = json.loads(line)
            except json.JSONDecodeError:
                log.warning("%s: stray output %r", self.name, line[:200])
                continue
            if message.get("event") == "error":
                raise RuntimeError(f"{self.name}: {message.get('reason')}")
            if message.get("event") == event:
                return dict(message)
            log.info("%s: %s", self.name, message.get("event"))

    async def stop(self, grace: float = 15) -> None:
        if self.proc.returncode is not None:
            return
        with contextlib.suppress(Exception):
            await self.send("stop")
        try:
            await asyncio.wait_for(self.proc.wait(), grace)
        except TimeoutError:
            log.warning("%s did not stop; killing it", self.name)
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()


async def stop_all(children: Sequence[Child]) -> None:
    await asyncio.gather(*(c.stop() for c in children), return_exceptions=True)


def worker_main(role: str, verbose: bool, body: Callable[[], Awaitable[None]]) -> None:
    """Run a worker's coroutine; any failure is reported to the orchestrator as an event."""
    setup_logging(role, verbose)
    raise_nofile()

    async def guarded() -> None:
        try:
            await body()
        except Exception as exc:
            log.exception("worker failed")
            emit({"event": "error", "reason": f"{type(exc).__name__}: {exc}"})

    run_async(guarded())


# --------------------------------------------------------------------------------------------
# Lightweight WHEP viewers with a data channel


def idle_decoder_worker(loop: Any, input_q: Any, output_q: Any, decode_error: Any) -> None:
    """Stands in for ``aiortc.rtcrtpreceiver.decoder_worker``: decodes nothing and ends at
    once, so a viewer costs no decoder thread (the rooms here carry no media anyway)."""


def no_decoders() -> None:
    import aiortc.rtcrtpreceiver

    aiortc.rtcrtpreceiver.decoder_worker = idle_decoder_worker


MessageHook = Callable[["Peer", dict[str, Any], float], None]


@dataclass
class Peer:
    """One WHEP viewer: a peer connection, its ``events`` data channel and what came in."""

    index: int
    pc: Any
    channel: Any
    welcomed: asyncio.Event = field(default_factory=asyncio.Event)
    welcome: dict[str, Any] | None = None
    join_seconds: float | None = None
    location: str = ""

    def send(self, message: dict[str, Any]) -> None:
        import msgpack

        self.channel.send(msgpack.packb(message))

    @property
    def open(self) -> bool:
        return bool(self.channel.readyState == "open" and self.pc.connectionState == "connected")


async def post_offer(http: Any, url: str, sdp: str, token: str | None) -> tuple[str, str]:
    headers = {"Content-Type": "application/sdp"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    async with http.post(url, data=sdp, headers=headers) as resp:
        body = await resp.text()
        if resp.status != 201:
            raise RuntimeError(f"{url} answered {resp.status}: {body[:200]}")
        return body, resp.headers.get("Location", "")


async def join(http: Any, base: str, room_id: str, index: int, on_message: MessageHook,
               token: str | None = None, media: bool = True,
               timeout: float = 30) -> Peer:
    """Join a room over WHEP as a viewer with a data channel and wait for its ``welcome``.

    ``media`` adds recvonly audio and video transceivers as a browser viewer would; without
    it the offer has only the data channel. ``on_message(peer, event, receipt_time)`` sees
    every event; ``time.time()`` is taken before the message is decoded.
    """
    import msgpack
    from aiortc import RTCPeerConnection, RTCSessionDescription

    started = time.time()
    pc = RTCPeerConnection()
    if media:
        pc.addTransceiver("video", direction="recvonly")
        pc.addTransceiver("audio", direction="recvonly")
    channel = pc.createDataChannel("events")
    peer = Peer(index, pc, channel)

    @channel.on("message")
    def _message(data: Any) -> None:
        received = time.time()
        if isinstance(data, str):
            return
        try:
            event = msgpack.unpackb(data)
        except Exception:
            log.warning("viewer %d: undecodable message", index)
            return
        if not isinstance(event, dict):
            return
        if event.get("type") == "welcome" and peer.welcome is None:
            peer.welcome = event
            peer.join_seconds = received - started
            peer.welcomed.set()
        on_message(peer, event, received)

    try:
        await pc.setLocalDescription(await pc.createOffer())
        answer, peer.location = await post_offer(http, f"{base}/whep/{room_id}",
                                                 pc.localDescription.sdp, token)
        await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        await asyncio.wait_for(peer.welcomed.wait(), timeout)
    except BaseException:
        await pc.close()
        raise
    return peer


async def join_many(http: Any, base: str, room_id: str, indices: Sequence[int],
                    on_message: MessageHook, tokens: dict[int, str] | None = None,
                    media: bool = True, concurrency: int = 4, attempts: int = 3,
                    stagger: float = 0.0) -> tuple[list[Peer], list[str]]:
    """Join viewers ``indices`` with at most ``concurrency`` joins in flight, retrying a
    failed join up to ``attempts`` times. Returns (peers that joined, failure reasons)."""
    sem = asyncio.Semaphore(concurrency)
    peers: list[Peer] = []
    failures: list[str] = []

    async def one(i: int) -> None:
        async with sem:
            for attempt in range(attempts):
                try:
                    peers.append(await join(http, base, room_id, i, on_message,
                                            (tokens or {}).get(i), media))
                    break
                except Exception as exc:
                    reason = f"{type(exc).__name__}: {exc}"[:200]
                    log.warning("viewer %d join attempt %d failed: %s", i, attempt + 1, reason)
                    if attempt == attempts - 1:
                        failures.append(reason)
                    await asyncio.sleep(0.5 * (attempt + 1))
            if stagger:
                await asyncio.sleep(stagger)

    await asyncio.gather(*(one(i) for i in indices))
    peers.sort(key=lambda p: p.index)
    return peers, failures


async def close_peers(peers: Sequence[Peer], concurrency: int = 50) -> None:
    sem = asyncio.Semaphore(concurrency)

    async def one(p: Peer) -> None:
        async with sem:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(p.pc.close(), 5)

    await asyncio.gather(*(one(p) for p in peers))


# --------------------------------------------------------------------------------------------
# Sampling profiles of the server (py-spy)


class Profile:
    """``py-spy record`` of one process over a window, summarised as the frames that used the
    most samples (by themselves, and with what they called). Sampling pauses the process
    briefly 100 times a second, so a profiled run is a little slower than a plain one."""

    def __init__(self, pid: int, path: Path, seconds: float | None = None,
                 native: bool = False) -> None:
        """Record for ``seconds``, or (None) until ``summary()`` is called. ``native`` adds
        C frames (the garbage collector, OpenSSL, uvloop) to the Python ones."""
        self.path = path
        self.seconds = seconds
        self.proc: subprocess.Popen[bytes] | None = None
        exe = shutil.which("py-spy")
        if exe is None:
            log.warning("py-spy not found (pip install py-spy); no profile")
            return
        duration = ["--duration", str(max(1, round(seconds)))] if seconds else []
        self.proc = subprocess.Popen(
            [exe, "record", "--pid", str(pid), *duration, "--format", "raw",
             "--output", str(path), *(["--native"] if native else [])],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def summary(self, top: int = 15, timeout: float = 30) -> dict[str, Any] | None:
        if self.proc is None:
            return None
        if not self.seconds and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        try:
            _, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None
        if not self.path.exists():
            log.warning("py-spy wrote nothing: %s", err.decode(errors="replace")[-300:])
            return None
        own: dict[str, int] = {}
        inclusive: dict[str, int] = {}
        total = 0
        for line in self.path.read_text(errors="replace").splitlines():
            stack, _, count_text = line.rpartition(" ")
            if not stack or not count_text.isdigit():
                continue
            count = int(count_text)
            frames = [_short_frame(f) for f in stack.split(";")]
            total += count
            own[frames[-1]] = own.get(frames[-1], 0) + count
            for frame in set(frames[1:]):  # the first frame is the process/thread name
                inclusive[frame] = inclusive.get(frame, 0) + count

        def ranked(table: dict[str, int]) -> list[list[Any]]:
            best = sorted(table.items(), key=lambda kv: -kv[1])[:top]
            return [[name, round(100 * n / max(1, total), 1)] for name, n in best]

        return {"samples": total, "file": str(self.path),
                "self_pct": ranked(own), "inclusive_pct": ranked(inclusive)}


def _short_frame(frame: str) -> str:
    """``func (/long/path/site-packages/pkg/mod.py:12)`` -> ``func (pkg/mod.py:12)``."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    for marker in ("site-packages/", str(REPO) + "/", "lib/python3"):
        if marker in where:
            where = where.split(marker, 1)[1]
    return f"{name} ({where})" if where else name
