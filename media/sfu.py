"""The SFU: answers publish and view offers and keeps one Router per live room."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)

from .admission import Admission, JoinQueueFull, LoopWatch, Ticket
from .aiortc_adapter import ForwardTrack, ReceiverTap, SenderTap, negotiated_video_codec
from .aiortc_peer import (
    Certificates,
    consent_without_verdict,
    enlarge_receive_buffers,
    judge_consent_by,
    set_consent_timing,
)
from .heap import HeapTrimmer
from .liveness import Liveness
from .router import Consumer, Producer, RoomBusy, Router, ViewerSession
from .sdp import SUPPORTED_AUDIO, SUPPORTED_VIDEO, SdpError, advertise_public_ip, parse_offer
from .tasks import TaskSet

log = logging.getLogger("stallcast.media.sfu")

__all__ = ["JoinQueueFull", "MediaSettings", "Sfu", "RoomBusy", "SdpError", "SessionNotFound"]


class SessionNotFound(KeyError):
    pass


@dataclass(frozen=True)
class MediaSettings:
    """What the media plane needs to know; the server fills it from its configuration
    (configs/default.toml holds every default)."""

    ice_servers: list[str]
    turn_username: str
    turn_credential: str
    public_ip: str
    keyframe_min_interval: float
    rtx_buffer_packets: int
    connect_timeout: float
    # How long viewers stay attached to a room whose host left before they are dropped.
    host_absent_timeout: float
    publisher_rcvbuf_bytes: int
    remb_floor_bps: int
    remb_ceiling_bps: int
    # A peer that answers no ICE consent check for interval x failures seconds is gone.
    consent_interval: float
    consent_failures: int
    # Viewer joins: handshakes in flight at once, how many more may wait, for how long.
    join_concurrency: int
    join_queue_max: int
    join_wait: float
    # Joins wait while a publisher's packets read and not yet forwarded need this long.
    join_max_backlog: float
    # A join holds its slot until its peer connects, or for this long at most.
    join_slot_max: float
    # The node's one DTLS certificate is replaced this often.
    certificate_rotate: float

    def rtc_configuration(self) -> RTCConfiguration:
        servers = [
            RTCIceServer(urls=url, username=self.turn_username or None,
                         credential=self.turn_credential or None)
            if url.startswith("turn") else RTCIceServer(urls=url)
            for url in self.ice_servers
        ]
        return RTCConfiguration(iceServers=servers)


def _preferred_codecs(kind: str, video_codec: str | None = None) -> list[Any]:
    """Codecs to accept; ``video_codec`` puts a session's codec first so a returning host
    keeps the codec its recording started with."""
    wanted: tuple[str, ...] = SUPPORTED_VIDEO if kind == "video" else SUPPORTED_AUDIO
    if kind == "video" and video_codec in wanted:
        wanted = (str(video_codec),) + tuple(c for c in wanted if c != video_codec)
    caps = RTCRtpSender.getCapabilities(kind).codecs
    keep = sorted((c for c in caps if c.mimeType.split("/")[-1].lower() in wanted),
                  key=lambda c: wanted.index(c.mimeType.split("/")[-1].lower()))
    rtx = [c for c in caps if c.mimeType.lower().endswith("/rtx")]
    return keep + rtx


class Sfu:
    """Owns every Router on this node. Rooms are identified by the caller (the HTTP layer)."""

    def __init__(self, settings: MediaSettings) -> None:
        self.settings = settings
        set_consent_timing(settings.consent_interval, settings.consent_failures)
        self.loop_watch = LoopWatch()
        judge_consent_by(self.loop_watch.late_since)
        self.certificates = Certificates(settings.certificate_rotate)
        self._holding = ""  # why joins are held back now ("" = they are not)
        self.admission = Admission(settings.join_concurrency, settings.join_queue_max,
                                   settings.join_wait, self._healthy)
        self.routers: dict[str, Router] = {}
        self._sessions: dict[str, tuple[str, str]] = {}  # session id -> (room id, role)
        self._tasks = TaskSet()
        self.heap = HeapTrimmer()  # gives departed peers' memory back to the system
        # Hooks for the layer above: room announcements, a viewer's channel opening, and
        # messages viewers send on it. The defaults keep the media plane usable on its own.
        self.announce: Callable[[str, dict[str, Any]], None] | None = None
        self.on_channel_open: Callable[[ViewerSession, Router], Awaitable[None]] | None = None
        self.on_message: Callable[[ViewerSession, Any], Awaitable[None]] | None = None
        # Room id -> video codec a returning host should keep (set while a session records).
        self._codec_locks: dict[str, str] = {}

    def lock_codec(self, room_id: str, codec: str) -> None:
        """Hold a returning host to ``codec`` (a recording cannot change codec midway)."""
        self._codec_locks[room_id] = codec

    def unlock_codec(self, room_id: str) -> None:
        self._codec_locks.pop(room_id, None)

    def router(self, room_id: str) -> Router:
        router = self.routers.get(room_id)
        if router is None:
            router = self.routers[room_id] = Router(
                room_id, self.settings.keyframe_min_interval, self.announce)
        return router

    def _spawn(self, coro: Any) -> None:
        self._tasks.spawn(coro)

    def _new_pc(self) -> RTCPeerConnection:
        self.loop_watch.start()
        return self.certificates.peer_connection(self.settings.rtc_configuration())

    def _healthy(self) -> bool:
        """May another join start now? Not while the loop runs late or a publisher's
        packets queue up unforwarded: the audience already watching comes first."""
        reason = ""
        if self.loop_watch.late_within(0.5):
            reason = "event loop late"
        else:
            backlog = max((tap.backlog_seconds for router in self.routers.values()
                           if router.producer is not None
                           for tap in router.producer.taps.values()), default=0.0)
            if backlog >= self.settings.join_max_backlog:
                reason = f"publisher backlog {backlog * 1000:.0f} ms"
        if bool(reason) != bool(self._holding):
            log.info("viewer joins %s", f"held: {reason}" if reason else "resumed",
                     extra={"queued": self.admission.queued})
        self._holding = reason
        return not reason

    def _hold_until_settled(self, pc: RTCPeerConnection, ticket: Ticket) -> None:
        """A join keeps its admission slot until its peer connects or fails, but no longer
        than ``join_slot_max``: by then the node's share of the handshake is done, and one
        slow phone must not hold the queue behind it."""

        def _settled() -> None:
            if pc.connectionState in ("connected", "failed", "closed"):
                ticket.release()

        pc.on("connectionstatechange", _settled)
        asyncio.get_running_loop().call_later(
            min(self.settings.connect_timeout, self.settings.join_slot_max), ticket.release)

    async def _answer(self, pc: RTCPeerConnection) -> str:
        await pc.setLocalDescription(await pc.createAnswer())
        return advertise_public_ip(pc.localDescription.sdp, self.settings.public_ip)

    def _watch(self, pc: RTCPeerConnection, on_gone: Any) -> None:
        """Call ``on_gone`` once when the connection fails, closes or never connects."""
        fired = False

        def fire() -> None:
            nonlocal fired
            if not fired:
                fired = True
                self._spawn(on_gone())

        @pc.on("connectionstatechange")
        def _state() -> None:
            if pc.connectionState in ("connected", "failed", "closed"):
                # The timer's callback holds the peer connection: a viewer that left soon
                # after joining stayed in memory (transports, DTLS, SCTP) until it fired.
                deadline.cancel()
            if pc.connectionState in ("failed", "closed"):
                fire()

        def timeout() -> None:
            if pc.connectionState != "connected":
                log.info("peer never connected, dropping")
                fire()

        deadline = asyncio.get_running_loop().call_later(self.settings.connect_timeout, timeout)

    async def publish(self, room_id: str, offer_sdp: str) -> tuple[str, str]:
        """Answer a host's offer; returns (session id, answer SDP)."""
        parse_offer(offer_sdp, publish=True)
        router = self.router(room_id)
        if router.producer is not None:
            raise RoomBusy(room_id)
        pc = self._new_pc()
        session_id = secrets.token_urlsafe(12)
        producer = Producer(session_id, pc, self.settings.keyframe_min_interval)

        @pc.on("track")
        def on_track(track: Any) -> None:
            for t in pc.getTransceivers():
                if t.receiver.track is track and track.kind not in producer.taps:
                    producer.taps[track.kind] = ReceiverTap(
                        t.receiver, router.sink_for(track.kind),
                        (self.settings.remb_floor_bps, self.settings.remb_ceiling_bps))

        judged = False

        @pc.on("connectionstatechange")
        def on_state() -> None:
            nonlocal judged
            if pc.connectionState == "connected" and not judged:
                judged = True
                enlarge_receive_buffers(pc, self.settings.publisher_rcvbuf_bytes)
                router.request_keyframe()
                self._spawn(self._judge_publisher(producer))

        try:
            await pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
            consent_without_verdict(pc)  # judged on its media instead: _judge_publisher
            for t in pc.getTransceivers():
                if t.kind in ("audio", "video"):
                    lock = self._codec_locks.get(room_id) or router.video_codec
                    t.setCodecPreferences(_preferred_codecs(t.kind, lock))
                    t.direction = "recvonly"
            answer = await self._answer(pc)
        except Exception as exc:
            await pc.close()
            raise SdpError(f"cannot negotiate: {exc}") from None
        try:
            router.attach_producer(producer)
        except RoomBusy:
            await pc.close()
            raise
        self._sessions[session_id] = (room_id, "publisher")
        self._watch(pc, lambda: self.end_session(session_id, reason="dropped"))
        if router.video_codec is None:
            router.video_codec = negotiated_video_codec(pc)
        router.announce_live()
        log.info("publisher joined", extra={"room_id": room_id, "session": session_id})
        return session_id, answer

    async def _judge_publisher(self, producer: Producer) -> None:
        """Drop a publisher once nothing (RTP or RTCP) arrived from it for the consent
        timeout; see media/liveness.py for why consent is not asked of publishers."""
        s = self.settings
        taps = producer.taps.values()
        liveness = Liveness(lambda: sum(tap.arrivals for tap in taps), s.consent_interval,
                            s.consent_failures, lambda: max((t.backlog for t in taps), default=0))
        if await liveness.until_silent(lambda: producer.closed):
            log.info("publisher went silent, dropping", extra={"session": producer.session_id})
            await self.end_session(producer.session_id, reason="dropped")

    async def view(self, room_id: str, offer_sdp: str, identity: str | None = None,
                   observer: bool = False, client: str = "") -> tuple[str, str]:
        """Answer a viewer's offer; returns (session id, answer SDP). An ``observer`` (the
        host watching its own room) gets everything but is not counted in the audience;
        ``client`` is kept on the session for the layer above (where it connected from)."""
        parse_offer(offer_sdp, publish=False)
        ticket = await self.admission.enter()  # raises JoinQueueFull
        router = self.router(room_id)
        pc = self._new_pc()
        self._hold_until_settled(pc, ticket)
        session_id = secrets.token_urlsafe(12)
        viewer = ViewerSession(session_id, pc, identity, room_id)
        viewer.observer = observer
        viewer.client = client

        @pc.on("datachannel")
        def on_channel(channel: Any) -> None:
            viewer.channel = channel

            def _open() -> None:
                if self.on_channel_open is not None:
                    self._spawn(self.on_channel_open(viewer, router))
                else:
                    viewer.send_event({"type": "welcome", "room_id": room_id,
                                       "live": router.live})

            channel.on("open", _open)

            def _message(message: Any) -> None:
                if self.on_message is not None:
                    viewer.inbox_put(message, self.on_message)

            channel.on("message", _message)

            if channel.readyState == "open":
                _open()

        try:
            await pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
            for t in pc.getTransceivers():
                if t.kind not in ("audio", "video") or t.kind in viewer.consumers:
                    continue
                t.setCodecPreferences(_preferred_codecs(t.kind))
                t.direction = "sendonly"
                t.sender.replaceTrack(ForwardTrack(t.kind))
                viewer.consumers[t.kind] = self._consumer(t, router)
            answer = await self._answer(pc)
        except Exception as exc:
            ticket.release()
            await pc.close()
            raise SdpError(f"cannot negotiate: {exc}") from None
        router.add_viewer(viewer)
        self._sessions[session_id] = (room_id, "viewer")
        self._watch(pc, lambda: self.end_session(session_id, reason="dropped"))

        @pc.on("connectionstatechange")
        def on_state() -> None:
            if pc.connectionState == "connected":
                router.request_keyframe()

        log.info("viewer joined", extra={"room_id": room_id, "session": session_id})
        return session_id, answer

    def _consumer(self, transceiver: Any, router: Router) -> Consumer:
        consumer: Consumer | None = None

        async def on_nack(lost: list[int]) -> None:
            if consumer is not None:
                await consumer.retransmit(lost)

        tap = SenderTap(transceiver, on_nack=on_nack, on_keyframe_request=router.request_keyframe)
        consumer = Consumer(transceiver.kind, tap, self.settings.rtx_buffer_packets,
                            router.request_keyframe)
        return consumer

    def session_room(self, session_id: str) -> tuple[str, str]:
        try:
            return self._sessions[session_id]
        except KeyError:
            raise SessionNotFound(session_id) from None

    async def end_session_soon(self, session_id: str) -> None:
        """End a session the way a WHIP/WHEP DELETE needs: the room and its audience forget
        it before this returns, and its peer connection closes in the background, so the
        HTTP answer never waits on a peer (a DTLS close or a busy loop can take seconds)."""
        self._spawn(self.end_session(session_id))
        # One loop pass: end_session runs up to its first wait, which comes after it
        # detached the session (asyncio runs ready callbacks in order).
        await asyncio.sleep(0)

    async def end_session(self, session_id: str, reason: str = "ended") -> None:
        """End a session. For a publisher, ``reason`` is "ended" (the host said so) or
        "dropped" (its connection failed): a dropped host may come back to the same session."""
        entry = self._sessions.pop(session_id, None)
        if entry is None:
            return
        room_id, role = entry
        router = self.routers.get(room_id)
        if router is None:
            return
        if role == "publisher":
            if router.producer is not None and router.producer.session_id == session_id:
                await router.detach_producer(router.producer, reason)
                self._spawn(self._expire_absent_host(router))
            log.info("publisher left", extra={"room_id": room_id, "session": session_id})
        else:
            await router.remove_viewer(session_id)
            log.info("viewer left", extra={"room_id": room_id, "session": session_id})
        self.heap.departed()
        if router.empty:
            self.routers.pop(room_id, None)

    async def _expire_absent_host(self, router: Router) -> None:
        left = router.host_left_at
        await asyncio.sleep(self.settings.host_absent_timeout)
        if router.producer is None and router.host_left_at == left:
            for sid in list(router.viewers):
                await self.end_session(sid)

    async def close_room(self, room_id: str) -> None:
        router = self.routers.get(room_id)
        if router is None:
            return
        sessions = [sid for sid, (rid, _) in self._sessions.items() if rid == room_id]
        for sid in sessions:
            await self.end_session(sid)

    async def close(self) -> None:
        await self.loop_watch.close()
        self.heap.close()
        for sid in list(self._sessions):
            await self.end_session(sid)
        await self._tasks.close()
