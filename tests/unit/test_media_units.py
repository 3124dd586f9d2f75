"""Forwarding rules that need no network: keyframe detection, rewriting, rate limiting, SDP."""

from __future__ import annotations

import asyncio
import struct

import pytest

from media.keyframe import KeyframeRequester
from media.rtp import StreamRewriter, h264_starts_keyframe, parse_header, vp8_starts_keyframe
from media.sdp import SdpError, advertise_public_ip, parse_offer


def test_vp8_keyframe_detection() -> None:
    # X=1, S=1, PID=0; I=1 with 15-bit picture id; then the VP8 frame tag (P=0: key frame).
    assert vp8_starts_keyframe(bytes([0x90, 0x80, 0x81, 0x23, 0x10, 0x02]))
    assert not vp8_starts_keyframe(bytes([0x90, 0x80, 0x81, 0x23, 0x11, 0x02]))  # inter frame
    assert not vp8_starts_keyframe(bytes([0x80, 0x80, 0x81, 0x23, 0x10]))  # not a start
    assert vp8_starts_keyframe(bytes([0x10, 0x00]))  # no extension
    assert not vp8_starts_keyframe(b"")
    assert not vp8_starts_keyframe(bytes([0x90, 0x80]))  # truncated


def test_h264_keyframe_detection() -> None:
    assert h264_starts_keyframe(bytes([0x65, 0x88]))  # IDR
    assert h264_starts_keyframe(bytes([0x67, 0x42]))  # SPS
    assert not h264_starts_keyframe(bytes([0x41, 0x9A]))  # non-IDR slice
    stap = bytes([0x78]) + struct.pack("!H", 2) + bytes([0x67, 0x42]) + struct.pack("!H", 1) + b"h"
    assert h264_starts_keyframe(stap)
    assert h264_starts_keyframe(bytes([0x7C, 0x85, 0x00]))  # FU-A start of IDR
    assert not h264_starts_keyframe(bytes([0x7C, 0x05, 0x00]))  # FU-A middle
    assert not h264_starts_keyframe(bytes([0x78, 0x00]))


def test_rewriter_keeps_one_stream_across_publishers() -> None:
    rw = StreamRewriter(ssrc=0xABCD, clock_rate=90000)
    out = [parse_header(rw.header(111, 96, 0, seq, 1000 + seq * 3000)) for seq in (65534, 65535, 0)]
    seqs = [o[2] for o in out]
    assert [(s - seqs[0]) & 0xFFFF for s in seqs] == [0, 1, 2]
    assert all(o[4] == 0xABCD and o[0] == 96 for o in out)
    # Out-of-order input stays out of order, with the same offset.
    late = parse_header(rw.header(111, 96, 1, 65533, 1000))
    assert (late[2] - seqs[0]) & 0xFFFF == 0xFFFF and late[1] == 1
    # A new publisher (new SSRC, unrelated numbers) continues the sequence.
    nxt = parse_header(rw.header(222, 96, 0, 500, 7))
    assert (nxt[2] - seqs[-1]) & 0xFFFF == 1
    assert ((nxt[3] - out[-1][3]) & 0xFFFFFFFF) < 90000 * 5


async def test_keyframe_requests_coalesce() -> None:
    sent: list[float] = []

    async def send() -> bool:
        sent.append(asyncio.get_running_loop().time())
        return True

    kr = KeyframeRequester(send, min_interval=0.2)
    for _ in range(50):
        kr.request()
    await asyncio.sleep(0.05)
    assert len(sent) == 1
    await asyncio.sleep(0.25)
    assert len(sent) == 2  # the burst's tail got one more, no more
    await asyncio.sleep(0.3)
    assert len(sent) == 2 and kr.requested == 50 and kr.sent == 2
    assert sent[1] - sent[0] >= 0.19
    kr.close()


SDP_HEAD = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"


def test_sdp_checks() -> None:
    with pytest.raises(SdpError, match="v=0"):
        parse_offer("hello", publish=True)
    with pytest.raises(SdpError, match="no audio, video"):
        parse_offer(SDP_HEAD, publish=False)
    with pytest.raises(SdpError):
        parse_offer(SDP_HEAD + "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n", publish=True)


def test_public_ip_is_advertised() -> None:
    sdp = ("a=candidate:1 1 udp 2130706431 10.0.0.5 40000 typ host\r\n"
           "a=candidate:2 1 udp 1694498815 203.0.113.9 40001 typ srflx raddr 10.0.0.5 rport 1\r\n")
    out = advertise_public_ip(sdp, "198.51.100.7")
    assert "198.51.100.7 40000 typ host" in out
    assert "203.0.113.9 40001 typ srflx" in out
    assert advertise_public_ip(sdp, "") == sdp
