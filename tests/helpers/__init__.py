"""What the tests in unit/, cluster/ and browser/ share; tests/conftest.py holds the fixtures.

- ``servers``: a real Stallcast app on a free port (``start_server``) and what a test does
  with it (``Running``: hosts, operators, rooms).
- ``clients``: real aiortc WHIP publishers and WHEP viewers, synthetic media, ``wait_for``.
- ``shop``: the JSON API client (``Api``) and buyers' contacts.
- ``procs``: real ``stallcast serve`` processes, for several nodes or crashes.
- ``relay``: a UDP relay that drops or cuts a peer's traffic.
- ``browser``: headless Chromium and what the browser tests read from a page.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
