"""The VOD records as stored: broadcast sessions, their packaging jobs and classes, each a
TypedDict with its one decoder from the Redis hash (``session:{sid}``, ``job:{sid}``,
``class:{cid}``; docs/redis-keys.md lists who writes which field), and what the packager
reports of a packaged recording (JSON, no decoder).

Numbers are the fields declared ``int`` or ``float``; every other field is a string as
Redis holds it. A session or a job is read field by field as it fills in over its life,
and callers start from ``{}`` when one is missing, so every field of theirs is optional.
"""

from __future__ import annotations

from typing import TypedDict

from server.commerce.records import SellableClass
from server.platform.records import decoder


class Session(TypedDict, total=False):
    session_id: str
    room_id: str
    host_id: str
    title: str
    started_at: float
    status: str  # live, then packaging or ended, then ready or failed
    file: str  # the first recording part ("" when not recorded)
    codec: str
    progress: float
    node: str  # the node that carries it ("" before nodes were noted)
    parts: str  # how many parts (a counter, kept as Redis holds it)
    host_left_at: str  # a UNIX time, kept as Redis holds it
    ended_at: float
    width: int
    height: int
    duration: float
    offset_ms: int
    transcoded: str  # "True" or "False"
    error: str


class Job(TypedDict, total=False):
    status: str  # queued, running, done, failed
    heartbeat: float
    attempts: int
    node: str
    progress: float
    error: str


class Class(SellableClass):
    """A recorded session on sale; its ``product_id`` is its ``class_id``, so an order's
    source is ``class:{cid}``."""

    session_id: str
    description: str
    preview_seconds: int
    created_at: float
    stock: int
    status: str


class Packaged(TypedDict):
    """What media.packager reports when a recording is packaged (its ``done`` line)."""

    duration: float
    codec: str
    transcoded: bool
    offset_ms: int
    playlist: str
    poster: str


decode_session = decoder(Session)
decode_job = decoder(Job)
decode_class = decoder(Class)
