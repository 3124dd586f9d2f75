"""`stallcast serve --demo` as a newcomer runs it, and the links it prints."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from helpers import ROOT
from helpers.servers import CROWD_FROM_ONE_ADDRESS, free_port
from server.cli import DEMO_NOTICE

LABELS = {"Front door:": "front", "Host studio:": "studio", "Viewer:": "viewer",
          "Class store:": "classes", "Operator:": "ops", "Key only:": "key_only",
          "WHIP URL:": "whip", "Stream key:": "stream_key"}


@dataclass
class DemoServe:
    proc: subprocess.Popen[str]
    port: int
    out: list[str] = field(default_factory=list)
    err: list[str] = field(default_factory=list)

    @property
    def stdout(self) -> str:
        return "".join(self.out)

    @property
    def stderr(self) -> str:
        return "".join(self.err)

    @property
    def links(self) -> dict[str, str]:
        """The labelled lines of the last demo block printed: front, studio, viewer, ..."""
        found: dict[str, str] = {}
        for line in self.out:
            text = line.strip()
            for label, name in LABELS.items():
                if text.startswith(label):
                    found[name] = text[len(label):].strip()
        return found

    @property
    def base(self) -> str:
        parts = urlsplit(self.links["front"])
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def host_token(self) -> str:
        return self.links["studio"].split("#signin=", 1)[1]

    @property
    def operator_token(self) -> str:
        return self.links["ops"].split("#signin=", 1)[1]

    @property
    def room_id(self) -> str:
        return self.links["viewer"].rsplit("/", 1)[1]


def _pump(stream: object, into: list[str]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        into.append(line)


@contextlib.asynccontextmanager
async def serve_demo(data_dir: Path, *args: str, env: dict[str, str] | None = None,
                     port: int | None = None, timeout: float = 60) -> AsyncIterator[DemoServe]:
    """`serve --demo` with ``args`` on a free port, until its links are printed; stopped
    with SIGTERM after (exit code 0 asserted)."""
    port = port or free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve", "--demo", "--data-dir", str(data_dir),
         "--port", str(port), *args], cwd=ROOT, text=True, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **CROWD_FROM_ONE_ADDRESS, **(env or {})})
    demo = DemoServe(proc, port)
    threads = [threading.Thread(target=_pump, args=(proc.stdout, demo.out), daemon=True),
               threading.Thread(target=_pump, args=(proc.stderr, demo.err), daemon=True)]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + timeout
        while DEMO_NOTICE not in demo.stdout:
            assert proc.poll() is None, f"serve exited {proc.returncode}: {demo.stderr}"
            assert time.monotonic() < deadline, demo.stdout + demo.stderr
            await asyncio.sleep(0.1)
        yield demo
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        await asyncio.to_thread(proc.wait, 30)
        for thread in threads:
            await asyncio.to_thread(thread.join, 5)
    assert proc.returncode == 0, demo.stderr
