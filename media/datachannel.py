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
from struct import pack
from typing import Any

from aioice.ice import StunProtocol
from aiortc import RTCDataChannel
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtcsctptransport import (
    SCTP_DATA_CHUNK_HEADER_LENGTH,
    SCTP_DATA_FIRST_FRAG,
    SCTP_DATA_LAST_FRAG,
    USERDATA_MAX_LENGTH,
    WEBRTC_BINARY,
    DataChunk,
    RTCSctpTransport,
    tsn_plus_one,
)
from aiortc.utils import uint16_add
from google_crc32c import value as crc32c  # what aiortc frames its packets with
from OpenSSL import SSL

log = logging.getLogger("stallcast.media.datachannel")

ESTABLISHED = RTCSctpTransport.State.ESTABLISHED
DATA_CHUNK_TYPE = DataChunk.type
_DATA_HEADER = "!BBHLHHL"  # type, flags, length, TSN, stream id, stream seq, protocol

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


class _Lane:
    """One viewer's channel as the direct path needs it, looked up once: its association,
    DTLS session and stream, the nominated ICE pair's UDP socket (again when the pair
    changes), the SCTP common header."""

    __slots__ = ("sctp", "dtls", "stream_id", "plain", "_pair", "_sendto", "_addr", "header",
                 "_header_key")

    def __init__(self, channel: RTCDataChannel, stream_id: int) -> None:
        self.sctp: Any = channel.transport
        self.dtls: Any = self.sctp.transport
        self.stream_id = stream_id
        # Only ordered, reliable channels go the direct way (the page's ``events`` is one).
        self.plain = (channel.ordered and channel.maxPacketLifeTime is None
                      and channel.maxRetransmits is None)
        self._pair: Any = None
        self._sendto: Any = None
        self._addr: Any = None
        self.header = b""
        self._header_key: tuple[int, int, int] | None = None

    def idle(self, channel: RTCDataChannel, size: int) -> bool:
        """Whether aiortc itself would send this message right now, in this order, and a
        record can go straight to a UDP socket (not through a TURN relay)."""
        sctp = self.sctp
        if not (self.plain and sctp._association_state is ESTABLISHED
                and not sctp._data_channel_queue and not sctp._outbound_queue
                and sctp._forward_tsn_chunk is None
                and sctp._data_channels.get(self.stream_id) is channel
                and not (sctp._remote_max_message_size
                         and size > sctp._remote_max_message_size)
                and self.dtls._state is DtlsState.CONNECTED):
            return False
        if sctp._sent_queue and any(c._retransmit for c in sctp._sent_queue):
            return False  # aiortc's _transmit resends those first
        pair = self.dtls.transport._connection._nominated.get(1)
        if pair is not self._pair:
            self._pair = pair
            udp = getattr(pair.protocol, "transport", None) if pair is not None else None
            direct = pair is not None and isinstance(pair.protocol, StunProtocol)
            self._sendto = udp.sendto if direct and udp is not None else None
            self._addr = pair.remote_addr if pair is not None else None
            if self._sendto is not None:
                receive_directly(self.dtls, pair.protocol)
        key = (sctp._local_port, sctp._remote_port, sctp._remote_verification_tag)
        if key != self._header_key:
            self._header_key, self.header = key, pack("!HHL", *key)
        return self._sendto is not None

    def write(self, packet: bytes) -> None:
        """aiortc's ``_send_data`` and ``_write_ssl``, then the ICE pair's ``sendto``."""
        dtls = self.dtls
        ssl = dtls._ssl
        ssl.send(packet)
        try:
            record = ssl.bio_read(1500)
        except SSL.Error:
            return
        self._sendto(record, self._addr)
        dtls._RTCDtlsTransport__tx_bytes += len(record)
        dtls._RTCDtlsTransport__tx_packets += 1


_LANES: weakref.WeakKeyDictionary[RTCDataChannel, _Lane] = weakref.WeakKeyDictionary()


def _lane(channel: RTCDataChannel) -> _Lane | None:
    found = _LANES.get(channel)
    if found is None:
        if channel.id is None:  # not registered with its association yet
            return None
        found = _LANES[channel] = _Lane(channel, channel.id)
    return found


class _Message:
    """One message cut into DATA chunk payloads once, whatever the number of viewers."""

    __slots__ = ("fragments", "padded")

    def __init__(self, data: bytes) -> None:
        self.fragments = [data[i:i + USERDATA_MAX_LENGTH]
                          for i in range(0, len(data), USERDATA_MAX_LENGTH)]
        # What DataChunk.__bytes__ appends after its header: the data padded to 4 bytes.
        self.padded = [f + b"\x00" * (-len(f) % 4) for f in self.fragments]


# A fresh chunk's counters, as aiortc's _send sets them (no expiry, no retransmit limit).
_CHUNK_STATE = {"_abandoned": False, "_acked": False, "_book_size": 0, "_expiry": None,
                "_in_flight": False, "_max_retransmits": None, "_misses": 0,
                "_retransmit": False, "_sent_count": 0, "_sent_time": None}
_ZERO_CRC = b"\x00\x00\x00\x00"


def _queue_chunks(sctp: Any, stream_id: int, message: _Message) -> int:
    """aiortc's ``_send`` minus its ``_transmit``: the message's DATA chunks, numbered and
    counted as aiortc numbers and counts its own, on the association's outbound queue;
    returns the stream sequence number they carry."""
    stream_seq: int = sctp._outbound_stream_seq.get(stream_id, 0)
    queue = sctp._outbound_queue
    last = len(message.fragments) - 1
    for i, fragment in enumerate(message.fragments):
        chunk: Any = DataChunk.__new__(DataChunk)
        state = chunk.__dict__
        state.update(_CHUNK_STATE)
        state["flags"] = (SCTP_DATA_FIRST_FRAG if i == 0 else 0) | (
            SCTP_DATA_LAST_FRAG if i == last else 0)
        state["tsn"] = sctp._local_tsn
        state["stream_id"] = stream_id
        state["stream_seq"] = stream_seq
        state["protocol"] = WEBRTC_BINARY
        state["user_data"] = fragment
        state["_book_size"] = len(fragment)
        sctp._local_tsn = tsn_plus_one(sctp._local_tsn)
        queue.append(chunk)
    sctp._outbound_stream_seq[stream_id] = uint16_add(stream_seq, 1)
    return stream_seq


def frame(header: bytes, chunk: Any, padded: bytes) -> bytes:
    """``serialize_packet`` for a DATA chunk whose padded payload is ready: the common
    header (ports, verification tag), its CRC32c, the chunk."""
    body = pack(_DATA_HEADER, DATA_CHUNK_TYPE, chunk.flags,
                SCTP_DATA_CHUNK_HEADER_LENGTH + len(chunk.user_data), chunk.tsn,
                chunk.stream_id, chunk.stream_seq, chunk.protocol) + padded
    return header + pack("<L", crc32c(header + _ZERO_CRC + body)) + body


def _send_now(lane: _Lane, message: _Message, now: float) -> None:
    """aiortc's ``_send`` then ``_transmit`` for one ordered, reliable message, without
    awaiting: the chunks share the association's TSNs, stream sequence, flight size and T3
    timer, so SACKs and retransmissions are handled by aiortc as for its own."""
    sctp = lane.sctp
    _queue_chunks(sctp, lane.stream_id, message)
    queue = sctp._outbound_queue
    burst = (2 if sctp._fast_recovery_exit is not None else 4) * USERDATA_MAX_LENGTH
    cwnd = min(sctp._flight_size + burst, sctp._cwnd)
    # What the window does not take now goes out as SACKs open it (aiortc's _transmit).
    # The queue was empty: the i-th chunk taken is the i-th fragment.
    i = 0
    while queue and sctp._flight_size < cwnd:
        chunk = queue.popleft()
        sctp._sent_queue.append(chunk)
        sctp._flight_size_increase(chunk)
        chunk._sent_count = 1
        chunk._sent_time = now
        lane.write(frame(lane.header, chunk, message.padded[i]))
        i += 1
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
    now, size = time.time(), len(data)
    message: _Message | None = None
    pending: dict[int, Any] = {}
    for channel in channels:
        if channel.readyState != "open":
            continue
        if channel.bufferedAmount > cap:
            done.dropped += 1
            continue
        try:
            lane = _lane(channel)
            if lane is not None and lane.idle(channel, size):
                message = message or _Message(data)
                _send_now(lane, message, now)
                done.sent += 1
                continue
            sctp: Any = channel.transport
            _enqueue(channel, sctp, data)
        except ValueError as exc:  # over what the viewer said it takes: it never will
            log.warning("data channel message too large", extra={"reason": str(exc)})
            continue
        except (ConnectionError, SSL.Error) as exc:  # going away: its connection cleans up
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


# The way back: each delivery brings the viewer's SACK. aiortc parses every datagram as STUN
# first (an exception for each one that is not), queues it for the DTLS transport's task,
# wakes that task, decrypts, and hands it to SCTP. For application data on an idle
# connection (nothing queued before it) the same steps run here, in the protocol's callback.

DTLS_APPLICATION_DATA = 23  # TLS/DTLS record content type
_RECEIVING: weakref.WeakSet[Any] = weakref.WeakSet()  # protocols taken over


def _drive(coro: Any) -> None:
    """Run a coroutine that does not suspend (aiortc's SCTP and DTLS handlers over a direct
    UDP pair) to its end now; if it does suspend, a task finishes it."""
    try:
        waiting = coro.send(None)
    except StopIteration:
        return
    asyncio.ensure_future(_resume(coro, waiting))


async def _resume(coro: Any, waiting: Any) -> None:
    while True:
        if waiting is None:
            await asyncio.sleep(0)
        else:
            waiting._asyncio_future_blocking = False  # as asyncio.Task does
            await asyncio.wait([waiting])
        try:
            waiting = coro.send(None)
        except StopIteration:
            return


def receive_directly(dtls: Any, protocol: Any) -> None:
    """Let ``protocol`` (the nominated pair's UDP side) hand DTLS records of ``dtls``'s
    connection straight to aiortc's handlers: what ``_recv_next`` does once the handshake
    is over, in the same order, when the transport's own queue is empty."""
    if protocol in _RECEIVING:
        return
    connection = dtls.transport._connection
    queue = connection._queue
    component = protocol.local_candidate.component
    original = protocol.datagram_received
    transport_ref = weakref.ref(dtls)

    def datagram_received(data: bytes, addr: Any) -> None:
        dtls = transport_ref()
        first = data[0] if data else 0
        if dtls is None or not 19 < first < 64:  # not DTLS: STUN, SRTP
            original(data, addr)
        elif (first != DTLS_APPLICATION_DATA or not queue.empty()
              or dtls._state is not DtlsState.CONNECTED
              or not dtls._RTCDtlsTransport__handshake_done or dtls._data_receiver is None):
            connection.data_received(data, component)  # no STUN parse: it is not STUN
        else:
            _receive_now(dtls, connection, data)

    protocol.datagram_received = datagram_received
    _RECEIVING.add(protocol)


def _receive_now(dtls: Any, connection: Any, data: bytes) -> None:
    """aiortc's ``_recv_next`` for one DTLS record, without the queue and the task."""
    dtls._RTCDtlsTransport__rx_bytes += len(data)
    dtls._RTCDtlsTransport__rx_packets += 1
    ssl = dtls._ssl
    ssl.bio_write(data)
    try:
        plain = ssl.recv(1500)
    except SSL.ZeroReturnError:  # the viewer shut DTLS down: aiortc's task closes it
        connection._queue.put_nowait(None)
        return
    except SSL.Error:
        plain = b""
    try:
        _drive(dtls._write_ssl())
        if plain:
            _drive(dtls._data_receiver._handle_data(plain))
    except ConnectionError:
        connection._queue.put_nowait(None)
    except Exception:
        log.exception("data channel receive failed")
