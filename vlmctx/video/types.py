"""Typed values that flow through the video stage: ``VideoInfo`` -> ``Selection`` -> ``Frames``.

Timestamps are always presentation times in seconds taken from the container (PTS), in display
order; they are never computed as index / fps (that is wrong for variable frame rate and for
streams whose first PTS is not zero).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`vlmctx.video.probe` learns about a file without decoding pixels.

    ``num_frames`` counts frames that really exist in the stream (from the packet index), not the
    header's claim (``header_num_frames``), which can be wrong (dmlc/decord#373).
    ``width``/``height`` are the display size, after applying ``rotation``.
    """

    path: str
    num_frames: int
    fps: float
    duration_s: float
    width: int
    height: int
    rotation: int
    codec: str
    is_vfr: bool
    pts_s: np.ndarray = field(repr=False)  # (num_frames,) float64, display order
    keyframes: np.ndarray = field(repr=False)  # sorted display-order indices of keyframes
    header_num_frames: int | None = None
    size_bytes: int = 0
    # Raw container timestamps (display order) and their time base: pts_s == stream_pts * time_base.
    # Decoders match frames on these integers, so "which frame" never depends on float rounding.
    stream_pts: np.ndarray | None = field(default=None, repr=False)  # (num_frames,) int64
    time_base: Fraction = Fraction(1, 1)
    start_s: float = 0.0  # the stream's start time (what OpenCV subtracts from its timestamps)
    stream_index: int = 0  # container index of the video stream read (first one, not cover art)
    # Packets the demuxer flagged discard (edit list before the first / after the last presented
    # frame): decoded as references, never presented, so not frames. Non-zero means the file needs
    # a decoder that honours edit lists (decord does not).
    discarded_packets: int = 0
    # Open GOPs: frames after a keyframe in decode order are shown before it (x264 open-gop, most
    # broadcast streams). Backends that seek to that keyframe for them decode wrong pixels.
    open_gop: bool = False
    # How a decoder reaches a keyframe. "pts": the container has an index (MP4, MKV, WebM...):
    # seek by timestamp. "bytes": no index (MPEG-TS/M2TS, MPEG-PS): FFmpeg's timestamp seeks land
    # a GOP late there, so seek to the keyframe packet's byte offset (``keyframe_pos``). "none": a
    # raw elementary stream with no timestamps at all (.h264, .hevc): frames are identified by
    # counting them in display order from the start, and ``pts_s`` is index / frame rate.
    seek: str = "pts"
    keyframe_pos: np.ndarray | None = field(default=None, repr=False)  # (len(keyframes),) int64
    # Frames of a file cut short (a .ts whose download or recording stopped) that exist only in
    # part: the decoder would conceal and show them; they are left out (see probe.py).
    partial_frames: int = 0

    def __hash__(self) -> int:
        return hash((self.path, self.num_frames, self.size_bytes))


@dataclass(frozen=True)
class Selection:
    """Frames a sampler chose: sorted unique display-order indices and their true timestamps.

    ``sample_fps`` is frames selected per second of covered video (what Qwen's processors call
    ``fps`` for time alignment). ``resize`` is an optional ``(height, width)`` that a budget
    sampler asks the reader to produce.
    """

    indices: np.ndarray  # (t,) int64
    pts_s: np.ndarray  # (t,) float64
    sample_fps: float
    sampler: str = ""
    resize: tuple[int, int] | None = None

    def __len__(self) -> int:
        return int(self.indices.shape[0])


@dataclass
class Frames:
    """Decoded RGB frames with the indices and timestamps they came from."""

    data: np.ndarray  # (t, h, w, 3) uint8 RGB
    indices: np.ndarray  # (t,) int64
    pts_s: np.ndarray  # (t,) float64
    backend: str
    info: VideoInfo
    sample_fps: float = 0.0
    decode_s: float = 0.0  # wall time spent probing + sampling + decoding these frames

    def __len__(self) -> int:
        return int(self.data.shape[0])
