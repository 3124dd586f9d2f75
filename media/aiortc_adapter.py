"""The RTP side of aiortc's internals (with media/aiortc_peer.py, the only code that
touches them).

aiortc decodes everything it receives and encodes everything it sends. The SFU needs the
opposite: take RTP packets as they arrive and put rewritten RTP packets on the wire. This
module taps an ``RTCRtpReceiver`` before its jitter buffer and decoder, and lets us send
ready-made RTP through an ``RTCRtpSender`` while keeping its RTCP sender reports right and
seeing its viewer's NACK/PLI/FIR. aiortc is pinned in pyproject.toml;
tests/unit/test_adapter.py fails loudly if any attribute used here moves.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aioice.ice import StunProtocol
from aiortc import (
    MediaStreamTrack,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCRtpTransceiver,
)
from aiortc import clock as aiortc_clock
from aiortc.codecs import is_rtx
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtcrtpreceiver import StreamStatistics
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    RtcpPsfbPacket,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    RtcpSrPacket,
    RtpPacket,
    pack_remb_fci,
    unwrap_rtx,
)

AIORTC_VERSION = "1.16.0"
log = logging.getLogger("stallcast.media.adapter")


def _ignore_connection_error(task: asyncio.Future[None]) -> None:
    # A viewer that went away mid-send is cleaned up by its connection state, not here.
    if not task.cancelled():
        task.exception()


RECEIVER_ATTRS = (
    "_RTCRtpReceiver__codecs",
    "_RTCRtpReceiver__remote_streams",
    "_RTCRtpReceiver__rtx_ssrc",
    "_RTCRtpReceiver__nack_generator",
    "_RTCRtpReceiver__remote_bitrate_estimator",
    "_RTCRtpReceiver__rtcp_ssrc",
    "_RTCRtpReceiver__decoder_thread",
)
STATISTICS_ATTRS = ("jitter", "_clockrate")
SENDER_OPTIONAL_ATTRS = ("_RTCRtpSender__rtt",)
SENDER_ATTRS = (
    "_RTCRtpSender__ntp_timestamp",
    "_RTCRtpSender__rtp_timestamp",
    "_RTCRtpSender__octet_count",
    "_RTCRtpSender__packet_count",
)
RECEIVER_METHODS = ("_handle_rtp_packet", "_handle_rtcp_packet", "_send_rtcp_nack",
                    "_send_rtcp_pli", "_send_rtcp", "receive", "_RTCRtpReceiver__stop_decoder")
SENDER_METHODS = ("_handle_rtcp_packet", "send")

RtpSink = Callable[[RtpPacket, RTCRtpCodecParameters], Awaitable[None]]
# A publisher's packets are fanned out for at most this long before other work may run.
YIELD_AFTER_S = 0.002


def current_ntp_time() -> int:
    return aiortc_clock.current_ntp_time()


def negotiated_video_codec(pc: Any) -> str | None:
    """The video codec (lower-case name) an answered peer connection will receive."""
    for t in pc.getTransceivers():
        if t.kind == "video" and t._codecs:
            return str(t._codecs[0].mimeType.split("/")[-1].lower())
    return None


class ForwardTrack(MediaStreamTrack):
    """A track whose frames never come through ``recv``: the SFU writes RTP straight to the
    sender. ``recv`` parks aiortc's RTP loop until the track stops."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self._stopped: asyncio.Future[None] = asyncio.get_event_loop().create_future()

    async def recv(self) -> Any:
        await asyncio.shield(self._stopped)
        raise MediaStreamError

    def stop(self) -> None:
        if not self._stopped.done():
            self._stopped.set_result(None)
        super().stop()


class ReceiverTap:
    """Feeds the packets an ``RTCRtpReceiver`` gets to ``sink`` instead of its decoder.

    It keeps what aiortc's own handler does for the publisher's sake: RTCP receiver-report
    statistics, RTX unwrapping, NACKs upstream and REMB bandwidth feedback.
    """

    def __init__(self, receiver: RTCRtpReceiver, sink: RtpSink,
                 remb_range: tuple[int, int] = (0, 1 << 40)) -> None:
        self.receiver = receiver
        self.sink = sink
        # aiortc's estimator sees the SFU's own fan-out time as network delay; clamping the
        # REMB keeps a busy server from talking its publisher down to a blurry stream.
        self.remb_range = remb_range
        r: Any = receiver
        self._r: Any = r
        self._codecs: dict[int, RTCRtpCodecParameters] = r._RTCRtpReceiver__codecs
        self._streams: dict[int, StreamStatistics] = r._RTCRtpReceiver__remote_streams
        self._rtx_ssrc: dict[int, int] = r._RTCRtpReceiver__rtx_ssrc
        self._nack = r._RTCRtpReceiver__nack_generator
        self._remb = r._RTCRtpReceiver__remote_bitrate_estimator
        self.media_ssrc: int | None = None
        self.packets = 0
        self.nacks_sent = 0
        self._step_started = 0.0
        self.forward_s = 0.0  # seconds one packet takes to fan out (moving average)
        # Loss as the network caused it, before NACKs repair it: sequence gaps seen on first
        # arrival, against packets that arrived in order.
        self._max_seq: int | None = None
        self.first_arrivals = 0
        self.gaps = 0
        original_receive = receiver.receive

        async def receive(parameters: Any) -> None:
            await original_receive(parameters)
            # The decoder thread aiortc just started would never get a packet from us.
            r._RTCRtpReceiver__stop_decoder()

        r.receive = receive
        r._handle_rtp_packet = self._handle_rtp_packet
        # Every RTP and RTCP packet the publisher sends, whatever becomes of it: what its
        # liveness is judged on (media/liveness.py).
        self.arrivals = 0
        original_rtcp = r._handle_rtcp_packet

        async def handle_rtcp(packet: Any) -> None:
            self.arrivals += 1
            await original_rtcp(packet)

        r._handle_rtcp_packet = handle_rtcp

    async def _handle_rtp_packet(self, packet: RtpPacket, arrival_time_ms: int) -> None:
        self.arrivals += 1
        # aioice queues every datagram it reads, and awaiting a queue that holds items does
        # not suspend: without this yield a backlog of packets (a join storm's stall) was
        # fanned out in one go, starving HTTP, DTLS handshakes and consent answers for
        # seconds. Yield once the loop has spent YIELD_AFTER_S here.
        now = time.perf_counter()
        if now - self._step_started > YIELD_AFTER_S:
            await asyncio.sleep(0)
            self._step_started = time.perf_counter()
        codec = self._codecs.get(packet.payload_type)
        if codec is None:
            return
        rtcp_ssrc = self._r._RTCRtpReceiver__rtcp_ssrc
        if self._remb is not None and packet.extensions.abs_send_time is not None:
            remb = self._remb.add(
                abs_send_time=packet.extensions.abs_send_time,
                arrival_time_ms=arrival_time_ms,
                payload_size=len(packet.payload) + packet.padding_size,
                ssrc=packet.ssrc,
            )
            if rtcp_ssrc is not None and remb is not None:
                lo, hi = self.remb_range
                bitrate = min(max(remb[0], lo), hi)
                fb = RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=rtcp_ssrc, media_ssrc=0,
                                    fci=pack_remb_fci(bitrate, remb[1]))
                await self.receiver._send_rtcp(fb)
        stats = self._streams.get(packet.ssrc)
        if stats is None:
            stats = self._streams[packet.ssrc] = StreamStatistics(codec.clockRate)
        stats.add(packet)
        if is_rtx(codec):
            original_ssrc = self._rtx_ssrc.get(packet.ssrc)
            apt = codec.parameters.get("apt")
            if (original_ssrc is None or len(packet.payload) < 2 or not isinstance(apt, int)
                    or apt not in self._codecs):
                return
            packet = unwrap_rtx(packet, payload_type=apt, ssrc=original_ssrc)
            codec = self._codecs[apt]
        else:
            if packet.ssrc != self.media_ssrc:
                self.media_ssrc, self._max_seq = packet.ssrc, None
            self._count_arrival(packet.sequence_number)
        if self._nack is not None and self._nack.add(packet):
            self.nacks_sent += 1
            await self.receiver._send_rtcp_nack(packet.ssrc, sorted(self._nack.missing))
        if not packet.payload:  # padding-only probe
            return
        self.packets += 1
        started = time.perf_counter()
        await self.sink(packet, codec)
        self.forward_s += 0.05 * (time.perf_counter() - started - self.forward_s)

    def _count_arrival(self, seq: int) -> None:
        if self._max_seq is None:
            self._max_seq = seq
            self.first_arrivals += 1
            return
        delta = (seq - self._max_seq) & 0xFFFF
        if 0 < delta < 0x8000:
            self.gaps += delta - 1
            self.first_arrivals += 1
            self._max_seq = seq

    async def request_keyframe(self) -> bool:
        """Send a PLI for the publisher's media stream; False if nothing to ask yet."""
        if self.media_ssrc is None:
            return False
        await self.receiver._send_rtcp_pli(self.media_ssrc)
        return True

    def uplink(self) -> tuple[int, int, int, int]:
        """(arrived in order, expected, jitter in clock units, clock rate) of the publisher's
        media stream. Loss counts packets missing when later ones arrived, whether or not a
        retransmission repaired them: that is what tells an operator the uplink is bad."""
        expected = self.first_arrivals + self.gaps
        if self.media_ssrc is None or self.media_ssrc not in self._streams:
            return self.first_arrivals, expected, 0, 90000
        st = self._streams[self.media_ssrc]
        return self.first_arrivals, expected, st.jitter, st._clockrate

    @property
    def backlog(self) -> int:
        """Datagrams from the publisher read off the socket and not handled yet."""
        return int(self.receiver.transport.transport._connection._queue.qsize())

    @property
    def backlog_seconds(self) -> float:
        """How long the queued datagrams will take to fan out: how far behind the audience
        will be by the time the last of them goes out."""
        return self.backlog * self.forward_s

    @property
    def decoding(self) -> bool:
        return self._r._RTCRtpReceiver__decoder_thread is not None


class SenderTap:
    """Writes ready-made RTP on an ``RTCRtpSender`` and routes its viewer's feedback."""

    def __init__(
        self,
        transceiver: RTCRtpTransceiver,
        on_nack: Callable[[list[int]], Awaitable[None]],
        on_keyframe_request: Callable[[], None],
    ) -> None:
        self.transceiver = transceiver
        self.sender: RTCRtpSender = transceiver.sender
        self.ssrc: int = self.sender._ssrc
        # A viewer sends us no media, but aiortc gives every video receiver a bitrate
        # estimator holding 1,000 rate buckets: half of all objects the collector walks at
        # 500 viewers (~85 ms of each full-collection pause). aiortc skips a None estimator.
        r: Any = transceiver.receiver
        r._RTCRtpReceiver__remote_bitrate_estimator = None
        self._on_nack = on_nack
        self._on_keyframe_request = on_keyframe_request
        self._pair: Any = None
        self._sendto: Callable[[bytes, Any], None] | None = None
        self._protect: Callable[[bytes], bytes] = bytes
        self._addr: Any = None
        s: Any = self.sender
        original = s._handle_rtcp_packet

        self.fraction_lost = 0.0  # from the viewer's last receiver report
        self.nacks = 0

        async def handle_rtcp(packet: Any) -> None:
            if isinstance(packet, (RtcpRrPacket, RtcpSrPacket)):
                for report in packet.reports:
                    if report.ssrc == self.ssrc:
                        self.fraction_lost = report.fraction_lost / 256
                await original(packet)
            elif isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
                self.nacks += 1
                await self._on_nack(list(packet.lost))
            elif isinstance(packet, RtcpPsfbPacket) and packet.fmt in (RTCP_PSFB_PLI,
                                                                       RTCP_PSFB_FIR):
                self._on_keyframe_request()
            else:
                await original(packet)

        s._handle_rtcp_packet = handle_rtcp

    @property
    def rtt(self) -> float | None:
        """Round-trip time to the viewer in seconds, from its receiver reports."""
        value = self.sender._RTCRtpSender__rtt  # type: ignore[attr-defined]
        return float(value) if value is not None else None

    def payload_types(self) -> dict[str, int]:
        """Negotiated payload type per codec name (lower case), first one wins."""
        out: dict[str, int] = {}
        for codec in self.transceiver._codecs:
            name = codec.mimeType.split("/")[-1].lower()
            if name == "rtx":
                continue
            if name == "h264" and str(codec.parameters.get("packetization-mode", "0")) != "1":
                continue
            if codec.payloadType is not None:
                out.setdefault(name, codec.payloadType)
        return out

    def clock_rate(self) -> int:
        codecs = self.transceiver._codecs
        return codecs[0].clockRate if codecs else 90000

    @property
    def ready(self) -> bool:
        return self.sender.transport._state is DtlsState.CONNECTED

    def send(self, data: bytes, rtp_ts: int, payload_len: int, ntp: int) -> None:
        """Protect and send one RTP packet now, without a coroutine per packet; raises
        ConnectionError when the peer is gone.

        This is the SFU's hottest line: aiortc's own path (``_send_rtp`` → ICE ``send`` →
        ``sendto`` → ``send_data``) costs four coroutines per packet and viewer. Over a direct
        UDP pair we call the datagram transport ourselves, with the pair's send function,
        SRTP context and address looked up once per nominated pair; anything else (TURN
        relays) takes aiortc's path in a task.
        """
        s: Any = self.sender
        dtls: Any = s.transport
        if dtls._state is not DtlsState.CONNECTED:
            raise ConnectionError("viewer transport not connected")
        pair = dtls.transport._connection._nominated.get(1)
        if pair is not self._pair:
            self._resolve(dtls, pair)
        if self._sendto is not None:
            self._sendto(self._protect(data), self._addr)
        else:
            task = asyncio.ensure_future(dtls._send_rtp(data))
            task.add_done_callback(_ignore_connection_error)
        s._RTCRtpSender__ntp_timestamp = ntp
        s._RTCRtpSender__rtp_timestamp = rtp_ts
        s._RTCRtpSender__octet_count += payload_len
        s._RTCRtpSender__packet_count += 1

    def _resolve(self, dtls: Any, pair: Any) -> None:
        self._pair = pair
        udp = getattr(pair.protocol, "transport", None) if pair is not None else None
        if isinstance(pair.protocol if pair else None, StunProtocol) and udp is not None:
            self._sendto, self._protect, self._addr = udp.sendto, dtls._tx_srtp.protect, \
                pair.remote_addr
        else:
            self._sendto = None

    async def resend(self, data: bytes) -> None:
        await self.sender.transport._send_rtp(data)

