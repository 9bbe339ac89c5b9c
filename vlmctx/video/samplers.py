"""Frame samplers: ``SAMPLERS.create(name, **params).select(info) -> Selection``.

Every sampler returns sorted, unique, in-range display indices with their true PTS (from the
probe), never index/fps. The fps and token-budget samplers follow qwen-vl-utils (``smart_nframes``,
``smart_resize`` in QwenLM/Qwen2.5-VL:qwen-vl-utils/src/qwen_vl_utils/vision_process.py, the
Qwen2-VL paper arXiv:2409.12191): frame counts are multiples of the temporal patch (2) and frame
sides multiples of patch x merge (28), so the model sees no padding. ``segment`` follows
VideoChat-Flash's rand/middle segments (arXiv:2501.00574).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import ClassVar, Protocol

import numpy as np

from vlmctx.errors import ConfigError, EmptySelectionError
from vlmctx.registry import Registry
from vlmctx.video.types import Selection, VideoInfo

FRAME_FACTOR = 2  # Qwen's temporal patch: frames are encoded in pairs
VIDEO_MIN_PIXELS = 128 * 28 * 28
VIDEO_MAX_PIXELS = 768 * 28 * 28


class Sampler(Protocol):
    name: str

    def select(self, info: VideoInfo) -> Selection: ...


SAMPLERS = Registry[Sampler]("sampler")


def make_selection(
    info: VideoInfo,
    indices: np.ndarray,
    name: str,
    span_s: float | None = None,
    resize: tuple[int, int] | None = None,
) -> Selection:
    """Sorted unique in-range indices -> Selection; ``sample_fps`` = frames / seconds covered."""
    idx = np.unique(np.asarray(indices, dtype=np.int64))
    idx = idx[(idx >= 0) & (idx < info.num_frames)]
    if idx.size == 0:
        raise EmptySelectionError(
            f"sampler {name!r} selected zero frames of {info.path!r} ({info.num_frames} frames, "
            f"{info.duration_s:.2f}s); widen the window, lower the threshold or ask for more frames."
        )
    span = info.duration_s if span_s is None else span_s
    return Selection(
        indices=idx,
        pts_s=info.pts_s[idx].astype(np.float64),
        sample_fps=float(len(idx) / span) if span > 0 else 0.0,
        sampler=name,
        resize=resize,
    )


def _linspace(total: int, n: int) -> np.ndarray:
    return np.round(np.linspace(0, total - 1, n)).astype(np.int64)


def _positive(name: str, value: float) -> None:
    if value <= 0:
        raise ConfigError(f"{name} must be > 0, got {value}.")


def round_by_factor(n: float, factor: int) -> int:
    return round(n / factor) * factor


def ceil_by_factor(n: float, factor: int) -> int:
    return math.ceil(n / factor) * factor


def floor_by_factor(n: float, factor: int) -> int:
    return math.floor(n / factor) * factor


def smart_resize(
    height: int,
    width: int,
    factor: int = 28,
    min_pixels: int = VIDEO_MIN_PIXELS,
    max_pixels: int = VIDEO_MAX_PIXELS,
) -> tuple[int, int]:
    """qwen-vl-utils' rule: sides multiples of ``factor``, area in [min_pixels, max_pixels],
    aspect ratio kept as closely as the rounding allows."""
    if max(height, width) / min(height, width) > 200:
        raise ConfigError(f"aspect ratio of {height}x{width} is over 200; crop the video first.")
    h_bar = max(factor, round_by_factor(height, factor))
    w_bar = max(factor, round_by_factor(width, factor))
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h_bar = max(factor, floor_by_factor(height / beta, factor))
        w_bar = max(factor, floor_by_factor(width / beta, factor))
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = ceil_by_factor(height * beta, factor)
        w_bar = ceil_by_factor(width * beta, factor)
    return h_bar, w_bar


def smart_nframes(
    total: int, duration_s: float, fps: float, min_frames: int, max_frames: int
) -> int:
    """qwen-vl-utils' fps rule: duration*fps clamped to [min, max] and total, floored to 2."""
    lo = ceil_by_factor(min_frames, FRAME_FACTOR)
    hi = floor_by_factor(min(max_frames, total), FRAME_FACTOR)
    n = min(min(max(duration_s * fps, lo), hi), total)
    n = floor_by_factor(n, FRAME_FACTOR)
    return int(n) if n >= FRAME_FACTOR else min(total, FRAME_FACTOR)


@SAMPLERS.register("uniform", summary="n frames evenly spaced over the whole video")
@dataclass(frozen=True)
class Uniform:
    n: int = 16
    name: ClassVar[str]  # set by SAMPLERS.register

    def __post_init__(self) -> None:
        _positive("n", self.n)

    def select(self, info: VideoInfo) -> Selection:
        return make_selection(info, _linspace(info.num_frames, self.n), self.name)


@SAMPLERS.register(
    "fps", summary="fps frames per second, clamped to [min_frames, max_frames] (Qwen)"
)
@dataclass(frozen=True)
class Fps:
    fps: float = 2.0
    min_frames: int = 4
    max_frames: int = 768
    name: ClassVar[str]  # set by SAMPLERS.register

    def __post_init__(self) -> None:
        _positive("fps", self.fps)
        if self.min_frames > self.max_frames:
            raise ConfigError(f"min_frames {self.min_frames} > max_frames {self.max_frames}.")

    def select(self, info: VideoInfo) -> Selection:
        n = smart_nframes(
            info.num_frames, info.duration_s, self.fps, self.min_frames, self.max_frames
        )
        return make_selection(info, _linspace(info.num_frames, n), self.name)


@SAMPLERS.register("segment", summary="n equal segments, middle or random frame of each")
@dataclass(frozen=True)
class Segment:
    n: int = 16
    mode: str = "middle"
    seed: int = 0
    name: ClassVar[str]  # set by SAMPLERS.register

    def __post_init__(self) -> None:
        _positive("n", self.n)
        if self.mode not in ("middle", "random"):
            raise ConfigError(f"segment mode must be 'middle' or 'random', got {self.mode!r}.")

    def select(self, info: VideoInfo) -> Selection:
        edges = np.linspace(0, info.num_frames, self.n + 1)
        lo, hi = edges[:-1], edges[1:]
        if self.mode == "middle":
            idx = np.floor((lo + hi) / 2)
        else:
            rng = np.random.default_rng(self.seed)
            idx = np.floor(lo + rng.random(self.n) * (hi - lo))
        return make_selection(info, idx.astype(np.int64), self.name)


@SAMPLERS.register("window", summary="[start_s, end_s] of the video, sampled by an inner sampler")
@dataclass(frozen=True)
class Window:
    start_s: float = 0.0
    end_s: float | None = None
    inner: str = "uniform"
    inner_params: dict | None = None
    name: ClassVar[str]  # set by SAMPLERS.register

    def __post_init__(self) -> None:
        if self.inner == "window":
            raise ConfigError("window cannot nest another window; pick uniform, fps, segment...")
        if self.end_s is not None and self.end_s <= self.start_s:
            raise ConfigError(f"window end_s {self.end_s} must be > start_s {self.start_s}.")

    def select(self, info: VideoInfo) -> Selection:
        end = info.pts_s[-1] if self.end_s is None else self.end_s
        lo = int(np.searchsorted(info.pts_s, self.start_s, side="left"))
        hi = int(np.searchsorted(info.pts_s, end, side="right"))
        if hi <= lo:
            raise EmptySelectionError(
                f"window [{self.start_s:g}, {end:g}] s holds no frame of {info.path!r}, whose frames "
                f"run {info.pts_s[0]:.2f}..{info.pts_s[-1]:.2f} s; move the window inside."
            )
        sub = sub_info(info, lo, hi)
        inner = SAMPLERS.create(self.inner, **(self.inner_params or {}))
        sel = inner.select(sub)
        return make_selection(
            info, sel.indices + lo, f"window/{self.inner}", sub.duration_s, sel.resize
        )


def sub_info(info: VideoInfo, lo: int, hi: int) -> VideoInfo:
    """The frames [lo, hi) as a VideoInfo of their own (indices shift by ``lo``)."""
    pts = info.pts_s[lo:hi]
    step = (info.duration_s - (info.pts_s[-1] - info.pts_s[0])) if info.num_frames else 0.0
    keys = info.keyframes[(info.keyframes >= lo) & (info.keyframes < hi)] - lo
    return dataclasses.replace(
        info,
        num_frames=hi - lo,
        duration_s=float(pts[-1] - pts[0] + step),
        pts_s=pts,
        keyframes=keys,
        stream_pts=None if info.stream_pts is None else info.stream_pts[lo:hi],
    )


@SAMPLERS.register("keyframe", summary="the I-frames (from the probe's index), at most max_frames")
@dataclass(frozen=True)
class Keyframe:
    max_frames: int = 64
    name: ClassVar[str]  # set by SAMPLERS.register

    def __post_init__(self) -> None:
        _positive("max_frames", self.max_frames)

    def select(self, info: VideoInfo) -> Selection:
        keys = info.keyframes
        if len(keys) > self.max_frames:
            keys = keys[_linspace(len(keys), self.max_frames)]
        return make_selection(info, keys, self.name)


@SAMPLERS.register(
    "scene", summary="middle frame of each shot (cuts: thumbnail change > threshold)"
)
@dataclass(frozen=True)
class Scene:
    threshold: float = 0.15
    max_frames: int = 64
    name: ClassVar[str]  # set by SAMPLERS.register

    def __post_init__(self) -> None:
        _positive("threshold", self.threshold)
        _positive("max_frames", self.max_frames)

    def select(self, info: VideoInfo) -> Selection:
        from vlmctx.video.shot_cuts import cut_scores

        idx, scores = cut_scores(info)
        cut_pos = np.flatnonzero(scores > self.threshold)
        if len(cut_pos) > self.max_frames - 1:  # keep the strongest cuts
            keep = np.argsort(scores[cut_pos])[::-1][: self.max_frames - 1]
            cut_pos = np.sort(cut_pos[keep])
        starts = np.concatenate([[0], idx[cut_pos]])
        ends = np.concatenate([idx[cut_pos], [info.num_frames]])
        return make_selection(info, (starts + ends - 1) // 2, self.name)


@dataclass(frozen=True)
class TokenBudgetChoice:
    """What the token-budget sampler decided: frames, frame size and the visual tokens it costs."""

    nframes: int
    height: int
    width: int
    tokens: int


@SAMPLERS.register(
    "token_budget", summary="frames x resolution under a visual-token or pixel budget (Qwen)"
)
@dataclass(frozen=True)
class TokenBudget:
    max_visual_tokens: int | None = None
    total_pixels: int | None = None
    fps: float = 2.0
    min_frames: int = 4
    max_frames: int = 768
    patch_size: int = 14
    merge_size: int = 2
    temporal_patch: int = 2
    min_pixels: int = VIDEO_MIN_PIXELS
    max_pixels: int = VIDEO_MAX_PIXELS
    name: ClassVar[str]  # set by SAMPLERS.register

    def __post_init__(self) -> None:
        if self.max_visual_tokens is not None and self.total_pixels is not None:
            raise ConfigError(
                "give token_budget either max_visual_tokens or total_pixels, not both."
            )
        if self.temporal_patch != FRAME_FACTOR:
            raise ConfigError("token_budget follows Qwen's temporal patch of 2 (temporal_patch=2).")

    @property
    def factor(self) -> int:
        return self.patch_size * self.merge_size

    def budget_pixels(self) -> float:
        """Total pixels over all frames; qwen-vl-utils' default is 128000*28*28*0.9."""
        if self.max_visual_tokens is not None:
            return float(self.max_visual_tokens * self.factor**2)
        if self.total_pixels is not None:
            return float(self.total_pixels)
        return 128000 * 28 * 28 * 0.9

    def choose(self, info: VideoInfo) -> TokenBudgetChoice:
        """qwen-vl-utils' fetch_video sizing; fewer frames if even min_pixels would overspend."""
        n = smart_nframes(
            info.num_frames, info.duration_s, self.fps, self.min_frames, self.max_frames
        )
        total = self.budget_pixels()
        floor = int(self.min_pixels * 1.05)
        if self.max_visual_tokens is not None and total / n * FRAME_FACTOR < floor:
            n = max(FRAME_FACTOR, floor_by_factor(total * FRAME_FACTOR / floor, FRAME_FACTOR))
            n = min(n, info.num_frames)
        per_frame = max(min(VIDEO_MAX_PIXELS, total / n * FRAME_FACTOR), floor)
        per_frame = min(self.max_pixels, per_frame)
        h, w = smart_resize(info.height, info.width, self.factor, self.min_pixels, int(per_frame))
        groups = math.ceil(n / self.temporal_patch)
        return TokenBudgetChoice(n, h, w, groups * (h // self.factor) * (w // self.factor))

    def select(self, info: VideoInfo) -> Selection:
        c = self.choose(info)
        return make_selection(
            info, _linspace(info.num_frames, c.nframes), self.name, resize=(c.height, c.width)
        )
