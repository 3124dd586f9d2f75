"""Router: one room's forwarding plane. One Producer (the host) feeds many Consumers.

Packets are forwarded as they arrive: read once, re-headed per viewer, never decoded.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgpack
from aiortc import RTCDataChannel, RTCPeerConnection
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket

from . import datachannel
from .aiortc_adapter import ReceiverTap, SenderTap, current_ntp_time
from .aiortc_peer import ConsentRtt
from .depacketize import H264Depacketizer, picture_size, vp8_payload
from .keyframe import KeyframeRequester
from .recorder import Recorder
from .rtp import StreamRewriter, starts_keyframe

log = logging.getLogger("stallcast.media.router")

INBOX_SIZE = 64


class RoomBusy(Exception):
    """The room already has a live publisher."""


class Producer:
    """The host's publishing session: its peer connection and one tap per received track."""

    def __init__(self, session_id: str, pc: RTCPeerConnection, keyframe_interval: float) -> None:
        self.session_id = session_id
        self.pc = pc
        self.taps: dict[str, ReceiverTap] = {}
        self.uplink_rtt = ConsentRtt(pc)
        self.keyframes = KeyframeRequester(self._send_pli, keyframe_interval)
        self.started_at = time.time()
        self.closed = False

    async def _send_pli(self) -> bool:
        tap = self.taps.get("video")
        return await tap.request_keyframe() if tap is not None else False

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.keyframes.close()
        await self.pc.close()


class Consumer:
    """One viewer's copy of one publisher track."""

    def __init__(self, kind: str, tap: SenderTap, rtx_capacity: int,
                 want_keyframe: Callable[[], None]) -> None:
        self.kind = kind
        self.tap = tap
        self.rewriter = StreamRewriter(tap.ssrc, 90000 if kind == "video" else 48000)
        self.waiting_keyframe = kind == "video"
        self._want_keyframe = want_keyframe
        self._pts: dict[str, int] | None = None
        self._history: list[tuple[int, bytes] | None] = [None] * rtx_capacity
        self.sent = 0
        self.retransmitted = 0
        self.first_keyframe_at: float | None = None
        self.closed = False

    def restart(self) -> None:
        """A new publisher stream: wait for its keyframe before sending video again."""
        self.waiting_keyframe = self.kind == "video"

    def forward(self, packet: RtpPacket, codec: str, keyframe: bool, ntp: int) -> bool:
        """Send one publisher packet to this viewer; True if it went out."""
        if self.closed or not self.tap.ready:
            return False
        if self._pts is None:
            self._pts = self.tap.payload_types()
            self.rewriter.clock_rate = self.tap.clock_rate()
        pt = self._pts.get(codec)
        if pt is None:  # the viewer did not take this codec
            return False
        if self.waiting_keyframe:
            if not keyframe:
                self._want_keyframe()
                return False
            self.waiting_keyframe = False
            if self.first_keyframe_at is None:
                self.first_keyframe_at = time.time()
        rw = self.rewriter
        header = rw.header(packet.ssrc, pt, packet.marker, packet.sequence_number,
                           packet.timestamp)
        data = header + packet.payload
        seq = (header[2] << 8) | header[3]
        self._history[seq % len(self._history)] = (seq, data)
        try:
            self.tap.send(data, rw.last_ts, len(packet.payload), ntp)
        except ConnectionError:
            self.closed = True
            return False
        self.sent += 1
        return True

    async def retransmit(self, lost: list[int]) -> None:
        """Answer a viewer's NACK from this stream's recent packets."""
        for seq in lost:
            entry = self._history[seq % len(self._history)]
            if entry is not None and entry[0] == seq:
                try:
                    await self.tap.resend(entry[1])
                    self.retransmitted += 1
                except ConnectionError:
                    return


class ViewerSession:
    """A WHEP viewer: its peer connection, its consumers and its event channel."""

    def __init__(self, session_id: str, pc: RTCPeerConnection, identity: str | None = None,
                 room_id: str = "") -> None:
        self.session_id = session_id
        self.pc = pc
        self.identity = identity  # opaque to the media plane: who the viewer is, if known
        self.room_id = room_id
        self.consumers: dict[str, Consumer] = {}
        self.channel: RTCDataChannel | None = None
        self.created_at = time.time()
        self.closed = False
        self._inbox: asyncio.Queue[Any] = asyncio.Queue(maxsize=INBOX_SIZE)
        self._pump: asyncio.Task[None] | None = None
        self.dropped_messages = 0
        self.join_reported = False
        self.observer = False  # the host's own connection: not part of the audience
        self.client = ""  # opaque to the media plane: where the viewer connected from

    def inbox_put(self, message: Any,
                  handler: Callable[[ViewerSession, Any], Awaitable[None]]) -> None:
        """Queue a message from the viewer; one task handles them in order. A viewer that
        floods the channel loses the overflow instead of growing the server's memory."""
        try:
            self._inbox.put_nowait(message)
        except asyncio.QueueFull:
            self.dropped_messages += 1
            return
        if self._pump is None:
            self._pump = asyncio.ensure_future(self._run_inbox(handler))

    async def _run_inbox(self, handler: Callable[[ViewerSession, Any], Awaitable[None]]) -> None:
        while True:
            message = await self._inbox.get()
            try:
                await handler(self, message)
            except Exception:
                log.exception("viewer message handler failed")

    def send_event(self, event: dict[str, Any]) -> bool:
        return self.send_raw(msgpack.packb(event))

    def send_raw(self, data: bytes) -> bool:
        """One message to this viewer alone, in order, without a task (media/datachannel.py);
        False when it has no open channel or too much waiting already."""
        ch = self.channel
        if ch is None or ch.readyState != "open":
            return False
        return datachannel.send(ch, data)

    @property
    def join_latency(self) -> float | None:
        video = self.consumers.get("video")
        if video is None or video.first_keyframe_at is None:
            return None
        return video.first_keyframe_at - self.created_at

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for c in self.consumers.values():
            c.closed = True
        if self._pump is not None:
            self._pump.cancel()
        await self.pc.close()


class Router:
    """Forwards the room's producer to all its viewers and tells them when the host comes
    and goes. Viewers stay attached across host reconnects."""

    def __init__(self, room_id: str, keyframe_interval: float,
                 announce: Callable[[str, dict[str, Any]], None] | None = None) -> None:
        self.room_id = room_id
        # Where host_live/host_left go: by default to this node's viewers; a cluster passes
        # them through its event bus so viewers on every node hear them.
        self.announce = announce or (lambda room_id, event: self.broadcast(event) and None)
        self.keyframe_interval = keyframe_interval
        self.producer: Producer | None = None
        self.viewers: dict[str, ViewerSession] = {}
        self._consumers: dict[str, list[tuple[ViewerSession, Consumer]]] = {
            "audio": [], "video": []}
        self._by_identity: dict[str, list[ViewerSession]] = {}
        self.packets_in = 0
        self.packets_out = 0
        self.bytes_in = 0
        self.bytes_out = 0
        self.frames_in = 0
        self.resolution: tuple[int, int] | None = None
        self.joins = 0
        self.leaves = 0
        self.dropped_events = 0  # to viewers whose channel was too far behind to take more
        self.watch_seconds = 0.0  # of viewers who have left
        self.join_latencies: list[float] = []  # seconds, drained by whoever samples them
        self.host_left_at: float | None = None
        self._recorder: Recorder | None = None
        # The video codec a session started with; a returning host is held to it.
        self.video_codec: str | None = None

    @property
    def recorder(self) -> Recorder | None:
        """The recording fed with every packet the publisher sends, if any."""
        return self._recorder

    def attach_recorder(self, recorder: Recorder) -> None:
        """Feed ``recorder`` from now on; it asks this router for the keyframes it needs."""
        recorder.request_keyframe = self.request_keyframe
        self._recorder = recorder

    def detach_recorder(self, recorder: Recorder | None = None) -> None:
        """Stop feeding the recorder (only ``recorder``, when named: another may have
        taken its place)."""
        if recorder is None or self._recorder is recorder:
            self._recorder = None

    @property
    def live(self) -> bool:
        return self.producer is not None

    def attach_producer(self, producer: Producer) -> None:
        if self.producer is not None:
            raise RoomBusy(self.room_id)
        self.producer = producer
        self.host_left_at = None
        for viewer in self.viewers.values():
            for consumer in viewer.consumers.values():
                consumer.restart()

    def announce_live(self) -> None:
        self.announce(self.room_id, {"type": "host_live", "room_id": self.room_id})

    async def detach_producer(self, producer: Producer, reason: str = "ended") -> None:
        if self.producer is not producer:
            return
        self.producer = None
        self.host_left_at = time.time()
        await producer.close()
        self.announce(self.room_id, {"type": "host_left", "room_id": self.room_id,
                                     "reason": reason})

    def request_keyframe(self) -> None:
        if self.producer is not None:
            self.producer.keyframes.request()

    def sink_for(self, kind: str) -> Callable[[RtpPacket, RTCRtpCodecParameters], Any]:
        """The function a producer's ReceiverTap for ``kind`` feeds packets to."""
        is_video = kind == "video"

        async def on_rtp(packet: RtpPacket, codec: RTCRtpCodecParameters) -> None:
            self.packets_in += 1
            name = codec.mimeType.split("/")[-1].lower()
            keyframe = is_video and starts_keyframe(name, packet.payload)
            if self._recorder is not None:
                self._recorder.on_packet(kind, name, packet.ssrc, packet.sequence_number,
                                        packet.timestamp, bool(packet.marker), packet.payload)
            size = len(packet.payload)
            self.bytes_in += size
            if is_video:
                if packet.marker:
                    self.frames_in += 1
                if keyframe:
                    self._note_keyframe(name, packet.payload)
            ntp = current_ntp_time()
            sent = 0
            for viewer, consumer in self._consumers[kind]:
                if consumer.forward(packet, name, keyframe, ntp):
                    sent += 1
                    if is_video and not viewer.join_reported:
                        self._note_join(viewer)
            self.packets_out += sent
            self.bytes_out += sent * (size + 12)

        return on_rtp

    def _note_keyframe(self, codec: str, payload: bytes) -> None:
        """Learn the picture size from keyframe headers: no decoding needed."""
        frame = (vp8_payload(payload)[0] if codec == "vp8" else
                 H264Depacketizer().push(payload) if codec == "h264" else b"")
        size = picture_size(codec, frame) if frame else None
        if size:
            self.resolution = size

    def _note_join(self, viewer: ViewerSession) -> None:
        viewer.join_reported = True
        latency = viewer.join_latency
        if latency is not None and not viewer.observer:
            self.join_latencies.append(latency)
            del self.join_latencies[:-1000]

    @property
    def audience(self) -> int:
        return sum(1 for v in self.viewers.values() if not v.observer)

    def _index(self) -> None:
        """Rebuild the per-kind (viewer, consumer) lists the fan-out loop walks."""
        self._consumers = {kind: [(v, v.consumers[kind]) for v in self.viewers.values()
                                  if kind in v.consumers] for kind in ("audio", "video")}
        # Who gets a message meant for one identity (an order's status) without a walk
        # through the whole audience on every order.
        self._by_identity = {}
        for v in self.viewers.values():
            if v.identity is not None:
                self._by_identity.setdefault(v.identity, []).append(v)

    def add_viewer(self, viewer: ViewerSession) -> None:
        self.viewers[viewer.session_id] = viewer
        self._index()
        if not viewer.observer:
            self.joins += 1

    async def remove_viewer(self, session_id: str) -> None:
        viewer = self.viewers.pop(session_id, None)
        if viewer is not None:
            self._index()
            if not viewer.observer:
                self.leaves += 1
                self.watch_seconds += time.time() - viewer.created_at
            await viewer.close()

    def broadcast(self, event: dict[str, Any], to: str | None = None) -> int:
        """Send one msgpack event to every viewer (or only to viewers with identity ``to``)."""
        event.setdefault("ts", time.time())
        data = msgpack.packb(event)  # once for the room, the same bytes to every viewer
        if to is not None:
            return sum(1 for v in list(self._by_identity.get(to, ())) if v.send_raw(data))
        done = datachannel.send_to_all(
            [v.channel for v in self.viewers.values() if v.channel is not None], data)
        if done.dropped:
            self.dropped_events += done.dropped
            log.debug("event not sent to slow viewers", extra={
                "room_id": self.room_id, "dropped": done.dropped})
        return done.sent + done.queued

    @property
    def empty(self) -> bool:
        return self.producer is None and not self.viewers

    async def close(self) -> None:
        if self.producer is not None:
            await self.producer.close()
            self.producer = None
        for sid in list(self.viewers):
            await self.remove_viewer(sid)
