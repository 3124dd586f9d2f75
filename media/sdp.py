"""Checks on SDP offers before aiortc sees them, and the answer's candidate rewriting."""

from __future__ import annotations

import re

from aiortc.sdp import SessionDescription

SUPPORTED_VIDEO = ("vp8", "h264")
SUPPORTED_AUDIO = ("opus",)
MAX_M_LINES = 5  # 2 audio + 2 video + 1 data channel covers every publisher and viewer
_M_LINE = re.compile(r"^m=", re.MULTILINE)


class SdpError(ValueError):
    """The offer cannot be used; the message says why, for the client."""


def parse_offer(sdp: str, *, publish: bool) -> SessionDescription:
    """Parse and sanity-check an offer. ``publish`` offers must send media we can forward."""
    if not sdp.strip():
        raise SdpError("empty SDP offer")
    if not sdp.lstrip().startswith("v=0"):
        raise SdpError("SDP must start with v=0")
    # Counted before parsing: each m-line costs a transceiver, sockets and memory.
    m_lines = len(_M_LINE.findall(sdp))
    if m_lines > MAX_M_LINES:
        raise SdpError(f"offer has {m_lines} m-lines; at most {MAX_M_LINES} (audio, video "
                       "and one data channel) are used")
    try:
        desc = SessionDescription.parse(sdp)
    except Exception as exc:  # aiortc raises ValueError, KeyError, IndexError on bad input
        raise SdpError(f"malformed SDP: {exc.__class__.__name__}: {exc}") from None
    av_media = [m for m in desc.media if m.kind in ("audio", "video")]
    if not av_media and not any(m.kind == "application" for m in desc.media):
        raise SdpError("offer has no audio, video or data m-line")
    kinds = [m.kind for m in desc.media]
    if kinds.count("application") > 1 or kinds.count("audio") > 2 or kinds.count("video") > 2:
        raise SdpError("offer has more m-lines of one kind than a stream uses "
                       "(at most 2 audio, 2 video, 1 application)")
    for m in desc.media:
        ice_ok = m.ice is not None and bool(m.ice.usernameFragment)
        fingerprint = m.dtls is not None and bool(m.dtls.fingerprints)
        if not ice_ok:
            raise SdpError(f"{m.kind} m-line lacks ICE credentials (a=ice-ufrag/ice-pwd)")
        if not fingerprint:
            raise SdpError(f"{m.kind} m-line lacks a DTLS fingerprint (a=fingerprint)")
    if publish:
        sending = [m for m in av_media if m.direction in ("sendonly", "sendrecv", None)]
        if not sending:
            raise SdpError("publish offer sends no audio or video")
        for m in sending:
            names = {c.mimeType.split("/")[-1].lower() for c in m.rtp.codecs}
            wanted = SUPPORTED_VIDEO if m.kind == "video" else SUPPORTED_AUDIO
            if m.kind == "video":
                h264_ok = any(
                    c.mimeType.lower() == "video/h264"
                    and str(c.parameters.get("packetization-mode", "0")) == "1"
                    for c in m.rtp.codecs
                )
                if "vp8" not in names and not h264_ok:
                    raise SdpError("video must offer VP8 or H264 with packetization-mode=1")
            elif not names.intersection(wanted):
                raise SdpError("audio must offer Opus")
    return desc


_CANDIDATE = re.compile(
    r"^(a=candidate:\S+ \d+ \S+ \d+ )(\S+)( \d+ typ host.*)$", re.MULTILINE
)


def advertise_public_ip(sdp: str, public_ip: str) -> str:
    """Replace host-candidate addresses with the operator's public address (1:1 NAT)."""
    if not public_ip:
        return sdp
    return _CANDIDATE.sub(lambda m: f"{m.group(1)}{public_ip}{m.group(3)}", sdp)
