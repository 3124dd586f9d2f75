"""Records a live session from the packets the SFU forwards: depacketize, mux, never decode.

Packets are turned into encoded frames on the event loop (cheap byte work) and handed to a
writer thread that muxes them into Matroska (VP8 or H264 video, Opus audio) with PyAV.
Matroska is written cluster by cluster, so a crash loses at most the last second or so.
"""

from __future__ import annotations

import fractions
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av

from .depacketize import (
    FrameAssembler,
    H264Depacketizer,
    h264_nal_types,
    picture_size,
    vp8_payload,
)

log = logging.getLogger("stallcast.media.recorder")

MS = fractions.Fraction(1, 1000)
CLOCK = {"video": 90000, "audio": 48000}
MAX_QUEUE = 2000  # frames; a writer this far behind drops rather than grows without bound
# Browsers send keyframes only when asked. HLS can only cut segments (and a class's free
# preview) at keyframes, so while recording we ask for one at least this often.


@dataclass
class _Track:
    kind: str
    codec: str = ""
    src: int | None = None
    assembler: FrameAssembler = field(default_factory=FrameAssembler)
    h264: H264Depacketizer = field(default_factory=H264Depacketizer)
    anchor_sec: float = 0.0
    last_ts: int = 0
    ext_ts: int = 0
    last_ms: int = -1
    waiting_keyframe: bool = True


@dataclass
class RecordingStats:
    video_frames: int = 0
    audio_frames: int = 0
    dropped_frames: int = 0
    width: int = 0
    height: int = 0


class Recorder:
    """One session's recording. Feed it with :meth:`on_packet`; :meth:`close` finishes it.

    ``request_keyframe`` is called when the recorder lost packets and needs a fresh keyframe.
    Times in the file are seconds since ``started_at`` (wall clock), so a host who drops and
    comes back continues the same file after a gap.
    """

    def __init__(self, path: Path, request_keyframe: Callable[[], None] | None = None,
                 started_at: float | None = None, *, keyframe_interval: float) -> None:
        self.path = path
        self.keyframe_interval = keyframe_interval
        self.started_at = time.time() if started_at is None else started_at
        # Router.attach_recorder points this at the router the packets come from.
        self.request_keyframe: Callable[[], None] = request_keyframe or (lambda: None)
        self._tracks = {"video": _Track("video"), "audio": _Track("audio")}
        self._queue: queue.Queue[tuple[str, bytes, int, bool] | None] = queue.Queue(MAX_QUEUE)
        self._thread = threading.Thread(target=self._write, name="recorder", daemon=True)
        self._thread.start()
        self.stats = RecordingStats()
        self._last_keyframe = 0.0
        self.closed = False
        self.error: str | None = None

    # -- event loop side --------------------------------------------------------------------
    def on_packet(self, kind: str, codec: str, ssrc: int, seq: int, ts: int, marker: bool,
                  payload: bytes) -> None:
        if self.closed:
            return
        track = self._tracks[kind]
        now = time.time()
        if ssrc != track.src:
            # A new publisher stream (or the first): anchor its clock to the wall clock.
            track.src, track.codec = ssrc, codec
            track.assembler = FrameAssembler()
            track.h264 = H264Depacketizer()
            track.last_ts = ts
            track.ext_ts = 0
            track.anchor_sec = now - self.started_at
            track.waiting_keyframe = kind == "video"
        elif codec != track.codec:
            return  # the session's file keeps the codec it started with
        delta = (ts - track.last_ts) & 0xFFFFFFFF
        track.ext_ts += delta - (1 << 32) if delta >= 1 << 31 else delta
        track.last_ts = ts
        if kind == "audio":
            self._emit(track, payload, track.ext_ts, True)
            return
        body = payload
        if codec == "vp8":
            body, _ = vp8_payload(payload)
        elif codec == "h264":
            body = track.h264.push(payload)
        for parts, _frame_ts, _, complete in track.assembler.push(seq, track.ext_ts & 0xFFFF_FFFF,
                                                                    body, marker, now):
            frame = b"".join(parts)
            keyframe = self._is_keyframe(codec, frame)
            if not complete:
                track.waiting_keyframe = True
                self.stats.dropped_frames += 1
                self.request_keyframe()
                continue
            if track.waiting_keyframe:
                if not keyframe:
                    self.stats.dropped_frames += 1
                    continue
                track.waiting_keyframe = False
            if keyframe:
                self._last_keyframe = now
            elif now - self._last_keyframe > self.keyframe_interval:
                self._last_keyframe = now  # ask once per interval, not on every frame
                self.request_keyframe()
            self._emit(track, frame, track.ext_ts, keyframe)

    @staticmethod
    def _is_keyframe(codec: str, frame: bytes) -> bool:
        if codec == "vp8":
            return bool(frame) and frame[0] & 0x01 == 0
        return bool(h264_nal_types(frame) & {5, 7})

    def _emit(self, track: _Track, data: bytes, ext_ts: int, keyframe: bool) -> None:
        if not data:
            return
        seconds = track.anchor_sec + ext_ts / CLOCK[track.kind]
        ms = max(int(seconds * 1000), track.last_ms + 1)
        track.last_ms = ms
        try:
            self._queue.put_nowait((track.kind, data, ms, keyframe))
        except queue.Full:
            self.stats.dropped_frames += 1
            if track.kind == "video":
                track.waiting_keyframe = True

    def close(self) -> None:
        """Finish the file (blocking until the writer thread is done)."""
        if self.closed:
            return
        self.closed = True
        self._queue.put(None)
        self._thread.join(timeout=30)

    # -- writer thread ----------------------------------------------------------------------
    def _write(self) -> None:
        container: Any = None
        streams: dict[str, Any] = {}
        pending_audio: list[tuple[bytes, int]] = []
        try:
            while True:
                item = self._queue.get()
                if item is None:
                    break
                kind, data, ms, keyframe = item
                if container is None:
                    if kind == "audio":
                        pending_audio.append((data, ms))
                        del pending_audio[:-250]  # keep the last ~5 s before video starts
                        continue
                    container, streams = self._open(data)
                    for adata, ams in pending_audio:
                        if ams >= ms - 100:
                            self._mux(container, streams["audio"], adata, ams, True)
                            self._count("audio")
                    pending_audio.clear()
                self._mux(container, streams[kind], data, ms, keyframe)
                self._count(kind)
        except Exception as exc:  # a broken disk must not take the live stream down
            self.error = repr(exc)
            log.exception("recording failed", extra={"path": str(self.path)})
        finally:
            if container is not None:
                try:
                    container.close()
                except Exception:
                    log.exception("closing recording failed")

    def _open(self, keyframe: bytes) -> tuple[Any, dict[str, Any]]:
        codec = self._tracks["video"].codec
        width, height = picture_size(codec, keyframe) or (640, 480)
        self.stats.width, self.stats.height = width, height
        self.path.parent.mkdir(parents=True, exist_ok=True)
        container = av.open(str(self.path), "w", format="matroska",
                            options={"cluster_time_limit": "1000", "flush_packets": "1"})
        video = container.add_mux_stream(codec, width=width, height=height, time_base=MS)
        audio = container.add_mux_stream("opus", rate=48000, time_base=MS)
        return container, {"video": video, "audio": audio}

    @staticmethod
    def _mux(container: Any, stream: Any, data: bytes, ms: int, keyframe: bool) -> None:
        packet = av.Packet(data)
        packet.stream = stream
        packet.pts = packet.dts = ms
        packet.time_base = MS
        packet.is_keyframe = keyframe
        container.mux(packet)

    def _count(self, kind: str) -> None:
        if kind == "video":
            self.stats.video_frames += 1
        else:
            self.stats.audio_frames += 1
