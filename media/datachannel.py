"""Data-channel messages to many viewers at once: the SCTP side of aiortc's internals (the
RTP side is media/aiortc_adapter.py; these are still the only modules touching them).

aiortc's ``RTCDataChannel.send`` queues the message and starts a task per message to flush
it through SCTP, DTLS and ICE: with one room event going to 500 viewers that is 500 tasks,
the bulk of the server's cost per delivery. Here a message to a channel whose association
is idle (nothing queued before it, room in the congestion window) is framed, encrypted and
written to the viewer's UDP socket synchronously, as aiortc's own ``_send``/``_transmit``
would, sharing its sequence numbers, flight size and retransmission timer so aiortc's SACK
handling carries on as if it had sent it. Anything else (a backlog, a TURN relay, a channel
with partial reliability) goes on aiortc's own queue, flushed by one task per call for all
of them, in order behind what is queued already.

A viewer whose channel has more than ``cap`` bytes waiting (a phone on a bad network) gets
nothing more until it drains: its memory stays bounded, and the ``seq`` gap it sees tells
its page to fetch a snapshot. aiortc is pinned in pyproject.toml; tests/unit/test_adapter.py
fails loudly if anything used here moves.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aioice.ice import StunProtocol
from aiortc import RTCDataChannel
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtcsctptransport import (
    SCTP_DATA_FIRST_FRAG,
    SCTP_DATA_LAST_FRAG,
    USERDATA_MAX_LENGTH,
    WEBRTC_BINARY,
    DataChunk,
    RTCSctpTransport,
    serialize_packet,
    tsn_plus_one,
)
from aiortc.utils import uint16_add
from OpenSSL import SSL

log = logging.getLogger("stallcast.media.datachannel")

# Bytes a viewer's channel may hold unsent before further messages to it are dropped.
DEFAULT_CAP = 256 * 1024

SCTP_ATTRS = ("_association_state", "_data_channel_queue", "_data_channels", "_outbound_queue",
              "_sent_queue", "_outbound_stream_seq", "_local_tsn", "_flight_size", "_cwnd",
              "_fast_recovery_exit", "_forward_tsn_chunk", "_t3_handle", "_local_port",
              "_remote_port", "_remote_verification_tag", "_remote_max_message_size")
SCTP_METHODS = ("_data_channel_flush", "_flight_size_increase", "_t3_start", "_transmit")
CHUNK_ATTRS = ("_abandoned", "_acked", "_book_size", "_expiry", "_in_flight",
               "_max_retransmits", "_misses", "_retransmit", "_sent_count", "_sent_time")
CHANNEL_METHODS = ("_addBufferedAmount",)
DTLS_ATTRS = ("_state", "_ssl", "_RTCDtlsTransport__tx_bytes", "_RTCDtlsTransport__tx_packets")


@dataclass
class Delivery:
    """What one fan-out did: written now, left on aiortc's queue, dropped over the cap."""

    sent: int = 0
    queued: int = 0
    dropped: int = 0


class _Writer:
    """Encrypts SCTP packets with the association's DTLS session and writes them to the
    nominated ICE pair's UDP socket (looked up once per pair)."""

    __slots__ = ("_pair", "_sendto", "_addr")

    def __init__(self) -> None:
        self._pair: Any = None
        self._sendto: Any = None
        self._addr: Any = None

    def ready(self, dtls: Any) -> bool:
        if dtls._state is not DtlsState.CONNECTED:
            return False
        pair = dtls.transport._connection._nominated.get(1)
        if pair is not self._pair:
            self._pair = pair
            udp = getattr(pair.protocol, "transport", None) if pair is not None else None
            direct = pair is not None and isinstance(pair.protocol, StunProtocol)
            self._sendto = udp.sendto if direct and udp is not None else None
            self._addr = pair.remote_addr if pair is not None else None
        return self._sendto is not None

    def write(self, dtls: Any, packet: bytes) -> None:
        ssl = dtls._ssl
        ssl.send(packet)
        try:
            record = ssl.bio_read(1500)
        except SSL.Error:
            return
        self._sendto(record, self._addr)
        dtls._RTCDtlsTransport__tx_bytes += len(record)
        dtls._RTCDtlsTransport__tx_packets += 1


_WRITERS: weakref.WeakKeyDictionary[Any, _Writer] = weakref.WeakKeyDictionary()


def _writer(sctp: Any) -> _Writer:
    found = _WRITERS.get(sctp)
    if found is None:
        found = _WRITERS[sctp] = _Writer()
    return found


def _fast_path_open(channel: RTCDataChannel, sctp: Any, size: int) -> bool:
    """Whether aiortc itself would send this message right now, in this order."""
    return (sctp._association_state is RTCSctpTransport.State.ESTABLISHED
            and not sctp._data_channel_queue and not sctp._outbound_queue
            and sctp._forward_tsn_chunk is None
            and channel.id is not None and sctp._data_channels.get(channel.id) is channel
            and channel.ordered and channel.maxPacketLifeTime is None
            and channel.maxRetransmits is None
            and not (sctp._remote_max_message_size and size > sctp._remote_max_message_size)
            and not any(c._retransmit for c in sctp._sent_queue))


def _send_now(channel: RTCDataChannel, sctp: Any, data: bytes, now: float) -> None:
    """aiortc's ``_send`` then ``_transmit`` for one ordered, reliable message, without
    awaiting: the chunks share the association's TSNs, stream sequence, flight size and T3
    timer, so SACKs and retransmissions are handled by aiortc as for its own."""
    stream_id = channel.id
    stream_seq = sctp._outbound_stream_seq.get(stream_id, 0)
    queue = sctp._outbound_queue
    fragments = -(-len(data) // USERDATA_MAX_LENGTH)
    for fragment in range(fragments):
        chunk: Any = DataChunk()
        chunk.flags = ((SCTP_DATA_FIRST_FRAG if fragment == 0 else 0)
                       | (SCTP_DATA_LAST_FRAG if fragment == fragments - 1 else 0))
        chunk.tsn = sctp._local_tsn
        chunk.stream_id = stream_id
        chunk.stream_seq = stream_seq
        chunk.protocol = WEBRTC_BINARY
        chunk.user_data = data[fragment * USERDATA_MAX_LENGTH:
                               (fragment + 1) * USERDATA_MAX_LENGTH]
        chunk._abandoned = chunk._acked = chunk._in_flight = chunk._retransmit = False
        chunk._book_size = len(chunk.user_data)
        chunk._expiry = chunk._max_retransmits = chunk._sent_time = None
        chunk._misses = chunk._sent_count = 0
        sctp._local_tsn = tsn_plus_one(sctp._local_tsn)
        queue.append(chunk)
    sctp._outbound_stream_seq[stream_id] = uint16_add(stream_seq, 1)
    burst = (2 if sctp._fast_recovery_exit is not None else 4) * USERDATA_MAX_LENGTH
    cwnd = min(sctp._flight_size + burst, sctp._cwnd)
    writer, dtls = _writer(sctp), sctp.transport
    # What the window does not take now goes out as SACKs open it (aiortc's _transmit).
    while queue and sctp._flight_size < cwnd:
        chunk = queue.popleft()
        sctp._sent_queue.append(chunk)
        sctp._flight_size_increase(chunk)
        chunk._sent_count += 1
        chunk._sent_time = now
        writer.write(dtls, serialize_packet(sctp._local_port, sctp._remote_port,
                                            sctp._remote_verification_tag, chunk))
        if not sctp._t3_handle:
            sctp._t3_start()


def _enqueue(channel: RTCDataChannel, sctp: Any, data: bytes) -> None:
    """aiortc's ``_data_channel_send`` minus its task: the caller flushes."""
    if sctp._remote_max_message_size and len(data) > sctp._remote_max_message_size:
        raise ValueError(f"message of {len(data)} bytes is over the viewer's limit")
    channel._addBufferedAmount(len(data))
    sctp._data_channel_queue.append((channel, WEBRTC_BINARY, data))


async def _flush(transports: list[Any]) -> None:
    for sctp in transports:
        try:
            await sctp._data_channel_flush()
        except Exception as exc:  # a viewer gone mid-send is cleaned up by its connection
            log.debug("data channel flush failed", extra={"reason": str(exc)})


_FLUSHES: set[asyncio.Task[None]] = set()


def _spawn_flush(transports: list[Any]) -> None:
    task = asyncio.ensure_future(_flush(transports))
    _FLUSHES.add(task)
    task.add_done_callback(_FLUSHES.discard)


def send_to_all(channels: Iterable[RTCDataChannel], data: bytes,
                cap: int = DEFAULT_CAP) -> Delivery:
    """Send the same message to every open channel, in order on each; at most one task in
    all (for the channels aiortc must queue)."""
    done = Delivery()
    if not data:
        return done
    now = time.time()
    pending: dict[int, Any] = {}
    for channel in channels:
        if channel.readyState != "open":
            continue
        if channel.bufferedAmount > cap:
            done.dropped += 1
            continue
        sctp: Any = channel.transport
        try:
            if _fast_path_open(channel, sctp, len(data)) and _writer(sctp).ready(sctp.transport):
                _send_now(channel, sctp, data, now)
                done.sent += 1
                continue
            _enqueue(channel, sctp, data)
        except (ValueError, ConnectionError, SSL.Error) as exc:
            log.debug("data channel send failed", extra={"reason": str(exc)})
            continue
        done.queued += 1
        pending[id(sctp)] = sctp
    if pending:
        _spawn_flush(list(pending.values()))
    return done


def send(channel: RTCDataChannel, data: bytes, cap: int = DEFAULT_CAP) -> bool:
    """One message to one channel (a reply, an order status), the same way; False if it
    was not sent (closed, or over the cap)."""
    done = send_to_all((channel,), data, cap)
    return bool(done.sent or done.queued)
