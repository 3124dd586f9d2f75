"""RTP helpers for forwarding: keyframe detection and per-viewer header rewriting.

The SFU never depacketizes on the live path; it only reads the first bytes of a payload to
know whether a packet starts a keyframe, so a new viewer can start cleanly.
"""

from __future__ import annotations

import random
import struct
import time

_HEADER = struct.Struct("!BBHII")

# H264 NAL unit types (RFC 6184).
_NAL_IDR = 5
_NAL_SPS = 7
_STAP_A = 24
_FU_A = 28


def vp8_descriptor(payload: bytes) -> tuple[int, bool] | None:
    """The VP8 payload descriptor (RFC 7741) of an RTP payload: (its length in bytes,
    whether this packet starts partition 0 of a frame); None when it is cut short."""
    if not payload:
        return None
    b0 = payload[0]
    i = 1
    if b0 & 0x80:  # X: extension byte
        if len(payload) <= i:
            return None
        ext = payload[i]
        i += 1
        if ext & 0x80:  # I: picture id
            if len(payload) <= i:
                return None
            i += 2 if payload[i] & 0x80 else 1
        if ext & 0x40:  # L: TL0PICIDX
            i += 1
        if ext & 0x30:  # T or K
            i += 1
    return i, bool(b0 & 0x10) and (b0 & 0x07) == 0


def vp8_starts_keyframe(payload: bytes) -> bool:
    """True when this VP8 RTP payload (RFC 7741) is the first packet of a key frame."""
    descriptor = vp8_descriptor(payload)
    if descriptor is None or not descriptor[1] or len(payload) <= descriptor[0]:
        return False
    return payload[descriptor[0]] & 0x01 == 0  # VP8 frame tag: P bit 0 means key frame


def h264_starts_keyframe(payload: bytes) -> bool:
    """True when this H264 RTP payload (RFC 6184) carries an SPS or the start of an IDR slice."""
    if len(payload) < 1:
        return False
    nal = payload[0] & 0x1F
    if nal in (_NAL_IDR, _NAL_SPS):
        return True
    if nal == _STAP_A:
        i = 1
        while i + 2 < len(payload):
            size = (payload[i] << 8) | payload[i + 1]
            if size == 0:
                break
            if payload[i + 2] & 0x1F in (_NAL_IDR, _NAL_SPS):
                return True
            i += 2 + size
        return False
    if nal == _FU_A and len(payload) > 1:
        fu = payload[1]
        return bool(fu & 0x80) and (fu & 0x1F) in (_NAL_IDR, _NAL_SPS)
    return False


def starts_keyframe(codec_name: str, payload: bytes) -> bool:
    name = codec_name.lower()
    if name == "vp8":
        return vp8_starts_keyframe(payload)
    if name == "h264":
        return h264_starts_keyframe(payload)
    return False


class StreamRewriter:
    """Maps one viewer's outgoing stream onto whatever publisher stream currently feeds it.

    Sequence numbers and timestamps continue across publisher changes (host reconnects), so
    the viewer's decoder sees one unbroken stream with a jump in time, not a new source.
    """

    __slots__ = ("ssrc", "clock_rate", "_src", "_seq_off", "_ts_off", "last_seq", "last_ts",
                 "_last_wall", "started")

    def __init__(self, ssrc: int, clock_rate: int):
        self.ssrc = ssrc
        self.clock_rate = clock_rate
        self._src: int | None = None
        self._seq_off = 0
        self._ts_off = 0
        self.last_seq = random.randrange(0, 32768)
        self.last_ts = random.randrange(0, 1 << 32)
        self._last_wall = 0.0
        self.started = False

    def switch_source(self, src_ssrc: int, seq: int, ts: int) -> None:
        """Anchor a new source so its first packet follows the last one sent."""
        if self.started:
            gap = max(1, int((time.monotonic() - self._last_wall) * self.clock_rate))
            next_ts = (self.last_ts + gap) & 0xFFFFFFFF
        else:
            next_ts = self.last_ts
        next_seq = (self.last_seq + 1) & 0xFFFF if self.started else self.last_seq
        self._src = src_ssrc
        self._seq_off = (next_seq - seq) & 0xFFFF
        self._ts_off = (next_ts - ts) & 0xFFFFFFFF

    def header(self, src_ssrc: int, pt: int, marker: int, seq: int, ts: int) -> bytes:
        """Build the 12-byte RTP header for this viewer (no CSRCs, no extensions)."""
        if src_ssrc != self._src:
            self.switch_source(src_ssrc, seq, ts)
        out_seq = (seq + self._seq_off) & 0xFFFF
        out_ts = (ts + self._ts_off) & 0xFFFFFFFF
        if not self.started or ((out_seq - self.last_seq) & 0xFFFF) < 0x8000:
            self.last_seq = out_seq
            self.last_ts = out_ts
            self._last_wall = time.monotonic()
            self.started = True
        return _HEADER.pack(0x80, (marker << 7) | pt, out_seq, out_ts, self.ssrc)


def parse_header(data: bytes) -> tuple[int, int, int, int, int]:
    """(payload type, marker, seq, timestamp, ssrc) of a serialized RTP packet."""
    b0, b1, seq, ts, ssrc = _HEADER.unpack_from(data)
    return b1 & 0x7F, b1 >> 7, seq, ts, ssrc
