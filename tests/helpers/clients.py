"""Real aiortc WHIP/WHEP clients and synthetic media, shared by tests and benchmarks."""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import av
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AUDIO_PTIME, VIDEO_CLOCK_RATE, MediaStreamError

VIDEO_TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK_RATE)


class PacedTrack(MediaStreamTrack):
    """A live track that hands out its frames in real time, as a camera or microphone."""

    _start: float | None = None

    async def _wait_for_frame_at(self, offset: float) -> None:
        """Sleep until ``offset`` seconds after the first frame; raise once the track ended."""
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.time()
        await asyncio.sleep(max(0.0, self._start + offset - time.time()))


class MovingVideoTrack(PacedTrack):
    """A moving gradient with a bar that sweeps across: each frame differs from the last."""

    kind = "video"

    def __init__(self, width: int = 640, height: int = 480, fps: int = 30) -> None:
        super().__init__()
        self.width, self.height, self.fps = width, height, fps
        self._count = 0
        row = bytes((x * 255 // width) for x in range(width))
        self._luma = row * height
        self._chroma = bytes([128]) * ((width // 2) * (height // 2))

    async def recv(self) -> av.VideoFrame:
        await self._wait_for_frame_at(self._count / self.fps)
        shift = (self._count * 8) % self.width
        frame = av.VideoFrame(self.width, self.height, "yuv420p")
        rows = []
        w = self.width
        for y in range(0, self.height, 16):
            line = self._luma[y * w:(y + 1) * w]
            line = line[shift:] + line[:shift]
            rows.append(line * 16)
        frame.planes[0].update(b"".join(rows)[: w * self.height])
        frame.planes[1].update(self._chroma)
        frame.planes[2].update(self._chroma)
        frame.pts = int(self._count * VIDEO_CLOCK_RATE / self.fps)
        frame.time_base = VIDEO_TIME_BASE
        self._count += 1
        return frame


class ToneTrack(PacedTrack):
    """A 440 Hz tone, 20 ms per frame, 48 kHz mono."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._samples = 0
        self._rate = 48000
        self._n = int(self._rate * AUDIO_PTIME)
        # One second holds a whole number of 440 Hz periods, so it loops without a click.
        self._second = b"".join(
            int(8000 * math.sin(2 * math.pi * 440 * i / self._rate)).to_bytes(2, "little",
                                                                              signed=True)
            for i in range(self._rate)
        )

    async def recv(self) -> av.AudioFrame:
        await self._wait_for_frame_at(self._samples / self._rate)
        frame = av.AudioFrame(format="s16", layout="mono", samples=self._n)
        offset = (self._samples % self._rate) * 2
        frame.planes[0].update(self._second[offset:offset + self._n * 2])
        frame.sample_rate = self._rate
        frame.pts = self._samples
        frame.time_base = fractions.Fraction(1, self._rate)
        self._samples += self._n
        return frame


async def _post_offer(url: str, sdp: str, token: str | None) -> tuple[str, str]:
    headers = {"Content-Type": "application/sdp"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    async with aiohttp.ClientSession() as http:
        async with http.post(url, data=sdp, headers=headers) as resp:
            body = await resp.text()
            if resp.status != 201:
                raise RuntimeError(f"{url} answered {resp.status}: {body}")
            return body, resp.headers["Location"]


@dataclass
class Publisher:
    pc: RTCPeerConnection
    location: str
    base: str
    key: str

    stopped: bool = False

    async def stop(self, delete: bool = True) -> None:
        """End the broadcast (WHIP DELETE unless ``delete`` is false) once; again does nothing."""
        if self.stopped:
            return
        self.stopped = True
        if delete:
            async with aiohttp.ClientSession() as http:
                await http.delete(self.base + self.location,
                                  headers={"Authorization": f"Bearer {self.key}"})
        await self.pc.close()


async def publish(base: str, room_id: str, key: str, video: MediaStreamTrack | None = None,
                  audio: MediaStreamTrack | None = None, codec: str = "VP8",
                  answer_filter: Any = None) -> Publisher:
    """Publish over WHIP with aiortc, as a host's encoder would."""
    pc = RTCPeerConnection()
    vt = pc.addTransceiver(video or MovingVideoTrack(), direction="sendonly")
    pc.addTransceiver(audio or ToneTrack(), direction="sendonly")
    from aiortc import RTCRtpSender

    caps = RTCRtpSender.getCapabilities("video").codecs
    vt.setCodecPreferences([c for c in caps if c.mimeType.lower() == f"video/{codec.lower()}"])
    await pc.setLocalDescription(await pc.createOffer())
    answer, location = await _post_offer(f"{base}/whip/{room_id}", pc.localDescription.sdp, key)
    if answer_filter is not None:
        answer = answer_filter(answer)
    await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    return Publisher(pc, location, base, key)


@dataclass
class Viewer:
    """A WHEP viewer that decodes what it receives and records when frames arrive."""

    pc: RTCPeerConnection
    location: str = ""
    base: str = ""
    started: float = field(default_factory=time.time)
    video_frames: list[float] = field(default_factory=list)
    audio_frames: int = 0
    frame_sizes: set[tuple[int, int]] = field(default_factory=set)
    events: list[dict[str, Any]] = field(default_factory=list)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    channel: Any = None
    stopped: bool = False

    def of(self, kind: str) -> list[dict[str, Any]]:
        """The data-channel events of one type, oldest first."""
        return [e for e in self.events if e.get("type") == kind]

    @property
    def first_frame_after(self) -> float | None:
        return self.video_frames[0] - self.started if self.video_frames else None

    async def _drain(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                if track.kind == "video":
                    self.video_frames.append(time.time())
                    self.frame_sizes.add((frame.width, frame.height))
                else:
                    self.audio_frames += 1
        except MediaStreamError:
            pass

    async def stop(self, delete: bool = True) -> None:
        """Leave (WHEP DELETE unless ``delete`` is false) once; again does nothing."""
        if self.stopped:
            return
        self.stopped = True
        if delete and self.location:
            async with aiohttp.ClientSession() as http:
                await http.delete(self.base + self.location)
        for t in self.tasks:
            t.cancel()
        await self.pc.close()


async def watch(base: str, room_id: str, data_channel: bool = True,
                answer_filter: Any = None, token: str | None = None) -> Viewer:
    """Watch over WHEP with aiortc; ``token`` (a viewer's) rides on the offer so the server
    knows who is buying."""
    import msgpack

    pc = RTCPeerConnection()
    viewer = Viewer(pc)
    pc.addTransceiver("video", direction="recvonly")
    pc.addTransceiver("audio", direction="recvonly")
    if data_channel:
        viewer.channel = pc.createDataChannel("events")

        @viewer.channel.on("message")
        def on_message(message: bytes) -> None:
            viewer.events.append(msgpack.unpackb(message))

    @pc.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        viewer.tasks.append(asyncio.ensure_future(viewer._drain(track)))

    await pc.setLocalDescription(await pc.createOffer())
    viewer.started = time.time()
    answer, location = await _post_offer(f"{base}/whep/{room_id}", pc.localDescription.sdp, token)
    viewer.location, viewer.base = location, base
    if answer_filter is not None:
        answer = answer_filter(answer)
    await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    return viewer


@contextlib.asynccontextmanager
async def on_air(base: str, room: dict[str, str], viewers: int = 1, codec: str = "VP8",
                 answer_filter: Any = None) -> AsyncIterator[tuple[Publisher, list[Viewer]]]:
    """A publisher live on ``room`` and ``viewers`` viewers watching it, all stopped after
    (those the test stopped already are left alone)."""
    pub = await publish(base, room["room_id"], room["stream_key"], codec=codec,
                        answer_filter=answer_filter)
    watching = [await watch(base, room["room_id"]) for _ in range(viewers)]
    try:
        yield pub, watching
    finally:
        for viewer in watching:
            await viewer.stop()
        await pub.stop()


async def wait_for(predicate: Any, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        await asyncio.sleep(interval)
    return bool(predicate())
