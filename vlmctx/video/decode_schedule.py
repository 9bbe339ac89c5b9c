"""The ``auto`` decoder: schedule the decode from the keyframe index, then decode it with PyAV.

The *decode schedule* is a list of :class:`DecodeSegment` (one optional seek, then decoding
straight on to the segment's last wanted frame).

Cost model (decoded frames; see docs/video.md): reaching target ``t`` from the last target ``p``
by decoding straight on costs ``t - p`` frames; seeking costs ``t - k + 1 + SEEK_OVERHEAD`` frames
where ``k`` is the keyframe at or before ``t``. Targets are sorted and grouped by GOP, so every
GOP is decoded at most once, only up to its last wanted frame, and a seek happens only where it
skips more than it costs. Three more savings keep it exact:

* non-reference frames that are not wanted are discarded before decoding (``skip_frame=NONREF``
  set per packet — safe, because no other frame predicts from them);
* only wanted frames are converted to RGB (and then resized), never a full-size copy of the rest;
* the codec runs frame+slice threaded (``thread_type=AUTO``).

Frames are identified by their integer PTS, so output equals a full sequential PyAV decode.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from vlmctx.errors import VideoDecodeError
from vlmctx.video.backends import FrameSink, decode_counting, preceding_keyframe, seek_keyframe
from vlmctx.video.types import VideoInfo

log = logging.getLogger(__name__)

SEEK_OVERHEAD = 12  # frames: demuxer seek + decoder flush + refilling the frame-thread pipeline


@dataclass
class DecodeSegment:
    """One contiguous stretch of decoding: optionally seek to ``seek_to``, decode to ``last``."""

    seek_to: int | None  # display index of the keyframe to seek to; None = keep decoding
    targets: list[int] = field(default_factory=list)

    @property
    def last(self) -> int:
        return self.targets[-1]


def schedule_segments(info: VideoInfo, indices: Sequence[int]) -> list[DecodeSegment]:
    """Group sorted targets into segments; a new segment (a seek) starts only where that is
    cheaper."""
    segments: list[DecodeSegment] = []
    prev = -1
    for t in sorted(int(i) for i in indices):
        k = preceding_keyframe(info, t)
        seek_cost = t - k + 1 + SEEK_OVERHEAD
        if not segments or (k > prev and seek_cost < t - prev):
            segments.append(DecodeSegment(seek_to=k))
        segments[-1].targets.append(t)
        prev = t
    return segments


def decoded_frames(info: VideoInfo, segments: list[DecodeSegment]) -> int:
    """How many frames the schedule decodes (the cost model's estimate, before NONREF skipping)."""
    total, prev = 0, -1
    for segment in segments:
        start = (
            segment.seek_to if segment.seek_to is not None and segment.seek_to > prev else prev + 1
        )
        total += segment.last - start + 1
        prev = segment.last
    return total


def decode_auto(
    info: VideoInfo, indices: Sequence[int], sink: FrameSink, threads: bool = True
) -> None:
    """Execute :func:`schedule_segments` with PyAV; slot ``i`` of ``sink`` gets ``indices[i]``."""
    import av

    if info.seek == "none":  # a raw stream without timestamps: count frames from the start
        decode_counting(info, indices, sink, "auto")
        return
    segments = schedule_segments(info, indices)
    log.debug(
        "auto schedule for %s: %d segments, ~%d frames",
        info.path,
        len(segments),
        decoded_frames(info, segments),
    )
    raw = info.stream_pts
    slot_of = {int(raw[i]): s for s, i in enumerate(indices)}  # pts -> output slot
    with av.open(info.path) as container:
        stream = container.streams[info.stream_index]
        if threads:
            stream.thread_type = "AUTO"
        cc = stream.codec_context
        for segment in segments:
            last_pts = int(raw[segment.last])
            if segment.seek_to is not None:
                seek_keyframe(container, stream, info, segment.seek_to)
                cc.flush_buffers()
            _decode_segment(container, stream, cc, slot_of, last_pts, sink)
    missing = sink.missing()
    if len(missing):
        raise VideoDecodeError(
            f"auto decoder could not find frames {[int(indices[m]) for m in missing[:5]]} of "
            f"{info.path!r} (damaged stream?). Try backend='pyav' or re-encode the file."
        )


def _decode_segment(container, stream, cc, slot_of: dict[int, int], last_pts: int, sink) -> None:  # noqa: ANN001
    """Demux and decode until the frame with ``last_pts`` is out (or the stream ends)."""
    order = _DisplayOrder(sink.info.path)
    for packet in container.demux(stream):
        if packet.size == 0:
            continue
        cc.skip_frame = "DEFAULT" if packet.pts in slot_of else "NONREF"
        for frame in cc.decode(packet):
            order.check(frame.pts)
            _take(frame, slot_of, sink)
            if frame.pts is not None and frame.pts >= last_pts:
                return
        sink.check_time()
    cc.skip_frame = "DEFAULT"
    for frame in cc.decode(None):  # drain the decoder at end of stream
        order.check(frame.pts)
        _take(frame, slot_of, sink)
    cc.flush_buffers()


class _DisplayOrder:
    """Frames leave the decoder in display order, so their pts must rise. Where they do not (a
    raw H.264 stream muxed without timestamps gets pts = dts), "the frame with pts p" is not the
    p-th frame shown: refuse rather than return a wrong frame."""

    def __init__(self, path: str) -> None:
        self.path, self.prev = path, None

    def check(self, pts: int | None) -> None:
        if pts is None:
            return
        if self.prev is not None and pts <= self.prev:
            raise VideoDecodeError(
                f"{self.path!r} has presentation timestamps out of display order (pts {pts} "
                f"after {self.prev}): its muxer wrote them wrong, so frames cannot be identified. "
                "Re-encode it: `ffmpeg -i in -c:v libx264 out.mp4`."
            )
        self.prev = pts


def _take(frame, slot_of: dict[int, int], sink: FrameSink) -> bool:  # noqa: ANN001
    slot = slot_of.get(frame.pts)
    if slot is None or sink.filled[slot]:
        return False
    sink.put(slot, frame.to_ndarray(format="rgb24"))
    return True
