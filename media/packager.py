"""Packages a finished recording as HLS VOD: playlist, segments, poster, duration.

H264 video is only remuxed; VP8 (which HLS cannot carry) is transcoded with libx264. Opus
becomes AAC, which every HLS player can play. Runs as its own process
(``python -m media.packager OUT_DIR SRC [SRC ...]``: a session recorded in parts, by
nodes that took it over from each other, is one class) so the live event loop never pays for it; it
prints one JSON line per progress step and a final ``{"done": ...}`` line.
"""

from __future__ import annotations

import fractions
import json
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import av

MS = fractions.Fraction(1, 1000)
SEGMENT_SECONDS = 4
AUDIO_RATE = 48000


def _silence(samples: int) -> av.AudioFrame:
    frame = av.AudioFrame(format="fltp", layout="stereo", samples=samples)
    for plane in frame.planes:
        plane.update(bytes(plane.buffer_size))
    frame.sample_rate = AUDIO_RATE
    return frame


def _probe_duration(paths: list[Path]) -> tuple[float, float]:
    """(first, last) presentation time in seconds over all streams of all parts (their
    times share the session's clock), by reading packets."""
    first, last = None, 0.0
    for path in paths:
        with av.open(str(path)) as inp:
            for packet in inp.demux():
                if packet.pts is None or packet.time_base is None:
                    continue
                t = float(packet.pts * packet.time_base)
                first = t if first is None else min(first, t)
                last = max(last, t + float((packet.duration or 0) * packet.time_base))
    return first or 0.0, last


def _packets(srcs: list[Path]) -> Iterator[tuple[Any, bool]]:
    """(packet, is video) of every part in turn, skipping packets without a time."""
    for src in srcs:
        with av.open(str(src)) as inp:
            streams = inp.streams.video[:1] + inp.streams.audio[:1]
            for packet in inp.demux(*streams):
                if packet.pts is not None:
                    yield packet, packet.stream.type == "video"


def _poster(src: Path, out: Path) -> None:
    with av.open(str(src)) as inp:
        stream = inp.streams.video[0]
        for frame in inp.decode(stream):
            width = min(frame.width, 640)
            height = max(2, int(frame.height * width / frame.width) // 2 * 2)
            image = frame.reformat(width=width, height=height, format="yuvj420p")
            with av.open(str(out), "w", format="image2") as jpg:
                s = jpg.add_stream("mjpeg")
                s.width, s.height, s.pix_fmt = width, height, "yuvj420p"
                for packet in s.encode(image):
                    jpg.mux(packet)
                for packet in s.encode(None):
                    jpg.mux(packet)
            return


def package(srcs: list[Path], out_dir: Path,
            progress: Callable[[float], None] = lambda p: None) -> dict[str, Any]:
    """Write ``out_dir/index.m3u8`` and its segments from the parts of one recording, in
    order; returns what was made."""
    tmp = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    first, last = _probe_duration(srcs)
    duration = max(0.0, last - first)
    src = srcs[0]
    inp: Any = av.open(str(src))
    vin = inp.streams.video[0]
    ain = inp.streams.audio[0] if inp.streams.audio else None
    codec = vin.codec_context.name
    out: Any = av.open(str(tmp / "index.m3u8"), "w", format="hls", options={
        "hls_time": str(SEGMENT_SECONDS), "hls_playlist_type": "vod",
        "hls_segment_filename": str(tmp / "seg_%05d.ts"), "hls_list_size": "0"})
    transcode = codec != "h264"
    if transcode:
        vout = out.add_stream("libx264", rate=30, options={
            "preset": "veryfast", "crf": "23", "g": str(SEGMENT_SECONDS * 60),
            "sc_threshold": "0"})
        vout.width, vout.height, vout.pix_fmt = vin.width, vin.height, "yuv420p"
        vout.time_base = MS
        vout.codec_context.time_base = MS
    else:
        vout = out.add_stream_from_template(vin)
    aout = None
    if ain is not None:
        aout = out.add_stream("aac", rate=AUDIO_RATE, layout="stereo")
        aout.time_base = fractions.Fraction(1, AUDIO_RATE)
    resampler = av.AudioResampler(format="fltp", layout="stereo", rate=AUDIO_RATE)
    offset_ms = int(first * 1000)
    next_key_ms = 0  # transcoding: a keyframe at every segment boundary
    audio_written = 0  # samples given to the audio encoder so far
    step = max(duration / 50, 0.5)
    next_report = step
    inp.close()
    for packet, is_video in _packets(srcs):
        t = float(packet.pts * packet.time_base) - first
        if t >= next_report:
            progress(min(0.99, t / duration if duration else 0.0))
            next_report += step
        if is_video:
            if transcode:
                for frame in packet.decode():
                    frame.pts = int(frame.pts * frame.time_base * 1000) - offset_ms
                    frame.time_base = MS
                    if frame.pts >= next_key_ms:
                        frame.pict_type = av.video.frame.PictureType.I
                        next_key_ms += SEGMENT_SECONDS * 1000
                    else:
                        frame.pict_type = av.video.frame.PictureType.NONE
                    for p in vout.encode(frame):
                        out.mux(p)
            else:
                packet.pts = int(packet.pts * packet.time_base * 1000) - offset_ms
                packet.dts = packet.pts
                packet.time_base = MS
                packet.stream = vout
                out.mux(packet)
        elif aout is not None:
            for frame in packet.decode():
                # Audio is laid end to end, so a gap in it (a host who dropped and came
                # back) must be filled with silence, or everything after it would play
                # that much ahead of the picture.
                if frame.pts is not None:
                    at = round((float(frame.pts * frame.time_base) - first) * AUDIO_RATE)
                    if at - audio_written > AUDIO_RATE // 50:
                        for p in aout.encode(_silence(at - audio_written)):
                            out.mux(p)
                        audio_written = at
                audio_written += round(frame.samples * AUDIO_RATE / (frame.sample_rate or
                                                                     AUDIO_RATE))
                frame.pts = None
                for rs in resampler.resample(frame):
                    for p in aout.encode(rs):
                        out.mux(p)
    if transcode:
        for p in vout.encode(None):
            out.mux(p)
    if aout is not None:
        for p in aout.encode(None):
            out.mux(p)
    out.close()
    _poster(src, tmp / "poster.jpg")
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)
    progress(1.0)
    return {"duration": round(duration, 3), "codec": codec, "transcoded": transcode,
            "offset_ms": offset_ms, "playlist": "index.m3u8", "poster": "poster.jpg"}


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        sys.stderr.write("usage: python -m media.packager OUT_DIR SRC [SRC ...]\n")
        return 2

    def report(p: float) -> None:
        sys.stdout.write(json.dumps({"progress": round(p, 3)}) + "\n")
        sys.stdout.flush()

    result = package([Path(a) for a in argv[1:]], Path(argv[0]), report)
    sys.stdout.write(json.dumps({"done": result}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
