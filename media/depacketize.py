"""RTP payloads back into encoded frames, for the recorder. No decoding: only the codecs'
RTP framing (RFC 7741 for VP8, RFC 6184 for H264) is undone."""

from __future__ import annotations

from .rtp import vp8_descriptor

ANNEXB = b"\x00\x00\x00\x01"


def vp8_payload(payload: bytes) -> tuple[bytes, bool]:
    """Strip the VP8 payload descriptor; returns (data, starts a partition 0)."""
    descriptor = vp8_descriptor(payload)
    if descriptor is None:
        return b"", False
    return payload[descriptor[0]:], descriptor[1]


def vp8_size(frame: bytes) -> tuple[int, int] | None:
    """Width and height from a VP8 key frame header."""
    if len(frame) < 10 or frame[0] & 0x01 or frame[3:6] != b"\x9d\x01\x2a":
        return None
    return (int.from_bytes(frame[6:8], "little") & 0x3FFF,
            int.from_bytes(frame[8:10], "little") & 0x3FFF)


class H264Depacketizer:
    """Turns H264 RTP payloads into Annex-B NAL units, reassembling FU-A fragments."""

    def __init__(self) -> None:
        self._fu: bytearray | None = None

    def push(self, payload: bytes) -> bytes:
        if not payload:
            return b""
        nal_type = payload[0] & 0x1F
        if 1 <= nal_type <= 23:
            self._fu = None
            return ANNEXB + payload
        if nal_type == 24:  # STAP-A
            out = bytearray()
            i = 1
            while i + 2 <= len(payload):
                size = int.from_bytes(payload[i:i + 2], "big")
                i += 2
                if size == 0 or i + size > len(payload):
                    break
                out += ANNEXB + payload[i:i + size]
                i += size
            return bytes(out)
        if nal_type == 28 and len(payload) >= 2:  # FU-A
            fu_header = payload[1]
            if fu_header & 0x80:
                header = (payload[0] & 0xE0) | (fu_header & 0x1F)
                self._fu = bytearray([header]) + payload[2:]
            elif self._fu is not None:
                self._fu += payload[2:]
            if fu_header & 0x40 and self._fu is not None:
                nal = bytes(self._fu)
                self._fu = None
                return ANNEXB + nal
        return b""


def picture_size(codec: str, frame: bytes) -> tuple[int, int] | None:
    """Width and height from a keyframe (VP8 frame, or H264 Annex-B with its SPS)."""
    if codec == "vp8":
        return vp8_size(frame)
    sps = next((n for n in frame.split(ANNEXB) if n and n[0] & 0x1F == 7), None)
    return h264_size(sps) if sps else None


def h264_nal_types(frame: bytes) -> set[int]:
    return {frame[i + 4] & 0x1F for i in range(len(frame) - 4)
            if frame[i:i + 4] == ANNEXB}


def h264_parameter_sets(frame: bytes) -> bytes:
    """The SPS and PPS NAL units of an Annex-B frame, still in Annex-B form."""
    parts = frame.split(ANNEXB)
    return b"".join(ANNEXB + p for p in parts if p and p[0] & 0x1F in (7, 8))


class _Bits:
    def __init__(self, data: bytes) -> None:
        # Remove emulation prevention bytes (00 00 03).
        clean = bytearray()
        zeros = 0
        for b in data:
            if zeros >= 2 and b == 3:
                zeros = 0
                continue
            clean.append(b)
            zeros = zeros + 1 if b == 0 else 0
        self.data = bytes(clean)
        self.pos = 0

    def bit(self) -> int:
        byte = self.data[self.pos >> 3]
        value = (byte >> (7 - (self.pos & 7))) & 1
        self.pos += 1
        return value

    def bits(self, n: int) -> int:
        value = 0
        for _ in range(n):
            value = (value << 1) | self.bit()
        return value

    def ue(self) -> int:
        zeros = 0
        while self.bit() == 0:
            zeros += 1
            if zeros > 31:
                raise ValueError("bad exp-Golomb code")
        return (1 << zeros) - 1 + self.bits(zeros)

    def se(self) -> int:
        v = self.ue()
        return (v + 1) // 2 if v & 1 else -(v // 2)


def h264_size(sps_nal: bytes) -> tuple[int, int] | None:
    """Width and height from an H264 SPS NAL unit (without start code)."""
    try:
        r = _Bits(sps_nal[1:])
        profile = r.bits(8)
        r.bits(16)
        r.ue()
        chroma = 1
        if profile in (100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135):
            chroma = r.ue()
            if chroma == 3:
                r.bit()
            r.ue()
            r.ue()
            r.bit()
            if r.bit():
                for i in range(8 if chroma != 3 else 12):
                    if r.bit():
                        last, nxt = 8, 8
                        for _ in range(16 if i < 6 else 64):
                            if nxt:
                                nxt = (last + r.se() + 256) % 256
                            last = nxt or last
        r.ue()
        poc_type = r.ue()
        if poc_type == 0:
            r.ue()
        elif poc_type == 1:
            r.bit()
            r.se()
            r.se()
            for _ in range(r.ue()):
                r.se()
        r.ue()
        r.bit()
        mbs_w = r.ue() + 1
        map_h = r.ue() + 1
        frame_mbs_only = r.bit()
        if not frame_mbs_only:
            r.bit()
        r.bit()
        width, height = mbs_w * 16, (2 - frame_mbs_only) * map_h * 16
        if r.bit():  # cropping
            cl, cr, ct, cb = r.ue(), r.ue(), r.ue(), r.ue()
            sub_w = 2 if chroma in (1, 2) else 1
            sub_h = (2 if chroma == 1 else 1) * (2 - frame_mbs_only)
            width -= (cl + cr) * sub_w
            height -= (ct + cb) * sub_h
        return width, height
    except (IndexError, ValueError):
        return None


class FrameAssembler:
    """Collects in-order RTP packets into whole frames (one RTP timestamp each).

    Any gap in sequence numbers marks the frame it touches as incomplete; the recorder then
    waits for the next keyframe rather than write a frame with a hole in it.
    """

    def __init__(self) -> None:
        self._seq: int | None = None
        self._ts = 0
        self._parts: list[bytes] = []
        self._broken = False
        self._arrival = 0.0

    def push(self, seq: int, ts: int, payload: bytes, marker: bool,
             arrival: float) -> list[tuple[list[bytes], int, float, bool]]:
        """Add a packet; returns the frames it finished as (parts, RTP timestamp, arrival of
        the first packet, complete)."""
        done: list[tuple[list[bytes], int, float, bool]] = []
        gap = False
        if self._seq is not None:
            delta = (seq - self._seq) & 0xFFFF
            if delta == 0 or delta >= 0x8000:
                return done  # duplicate or too late
            if delta > 1:
                gap = True
        if self._parts and ts != self._ts:
            done.append((self._parts, self._ts, self._arrival, False))  # its end was lost
            self._parts = []
        if not self._parts:
            self._ts, self._arrival, self._broken = ts, arrival, gap
        elif gap:
            self._broken = True
        self._seq = seq
        self._parts.append(payload)
        if marker:
            done.append((self._parts, ts, self._arrival, not self._broken))
            self._parts, self._broken = [], False
        return done
