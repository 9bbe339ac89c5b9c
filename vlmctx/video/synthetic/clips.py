"""Deterministic test videos: H.264 clips with a readable frame counter.

Tests, the benchmark and other engineers need clips whose GOP length, B-frames, frame rate,
rotation and timing are known exactly, so that "which frame did the decoder return?" has a
checkable answer. Every frame carries its display index as a row of black/white blocks at the
top (:func:`read_counter` reads it back), over moving content so that neighbouring frames differ.
Clips are encoded by the project's one H.264 writer (:mod:`vlmctx.video.synthetic.writer`).

    path = synth_clip(gop=250, bframes=2)            # cached in a temp dir per parameter set
    idx = read_counter(frame_rgb)                    # -> the frame's display index
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from vlmctx.video.synthetic.writer import write_h264

COUNTER_BITS = 12
_BAND = 16  # counter band height in pixels


def cache_dir() -> Path:
    """Where generated clips live (``$VLMCTX_SYNTH_DIR`` or a per-user temp folder)."""
    root = os.environ.get("VLMCTX_SYNTH_DIR") or os.path.join(
        tempfile.gettempdir(), f"vlmctx-synth-{os.getuid() if hasattr(os, 'getuid') else 0}"
    )
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def draw_frame(index: int, width: int, height: int, scene: int = 0) -> np.ndarray:
    """One RGB uint8 frame (h, w, 3): a counter band, a moving square and a scene-coloured backdrop.

    ``scene`` picks a backdrop palette and pattern; a change of ``scene`` is a hard shot cut.
    """
    rng = np.random.default_rng(1000 + scene)
    base = rng.integers(30, 220, size=3)
    yy, xx = np.mgrid[0:height, 0:width]
    phase = (index * 3) % 256
    img = np.empty((height, width, 3), dtype=np.uint8)
    if scene % 2 == 0:  # diagonal gradient that drifts with time
        grad = (xx + yy + phase) % 256
    else:  # horizontal stripes that scroll
        grad = ((yy // 6 + index) % 2) * 120 + (xx * 100 // max(width, 1))
    for c in range(3):
        img[..., c] = ((grad * (c + 1) // 3 + base[c]) % 256).astype(np.uint8)
    side = max(8, min(width, height) // 5)
    span_x, span_y = max(width - side, 1), max(height - _BAND - side, 1)
    x0 = (index * 5) % span_x
    y0 = _BAND + (index * 3) % span_y
    img[y0 : y0 + side, x0 : x0 + side] = (255 - base).astype(np.uint8)
    _draw_counter(img, index)
    return img


def _draw_counter(img: np.ndarray, index: int) -> None:
    width = img.shape[1]
    block = width // COUNTER_BITS
    img[:_BAND] = 128
    for bit in range(COUNTER_BITS):
        on = (index >> (COUNTER_BITS - 1 - bit)) & 1
        img[2 : _BAND - 2, bit * block + 2 : (bit + 1) * block - 2] = 240 if on else 16


def read_counter(frame: np.ndarray, rotation: int = 0) -> int:
    """Read the display index drawn by :func:`draw_frame` from an RGB frame (h, w, 3).

    ``rotation`` is the clip's display rotation: the frame is rotated back before reading.
    """
    if rotation:
        frame = np.rot90(frame, k=-(round(rotation / 90) % 4))
    width = frame.shape[1]
    block = width // COUNTER_BITS
    value = 0
    for bit in range(COUNTER_BITS):
        patch = frame[4 : _BAND - 4, bit * block + 4 : (bit + 1) * block - 4]
        value = (value << 1) | int(patch.mean() > 128)
    return value


def write_clip(
    path: str | Path,
    *,
    width: int = 192,
    height: int = 112,
    fps: int = 25,
    num_frames: int = 100,
    gop: int = 250,
    bframes: int = 2,
    cuts: tuple[int, ...] = (),
    frame_durations_ms: tuple[int, ...] | None = None,
    rotation: int = 0,
    crf: int = 18,
) -> Path:
    """Encode a clip with libx264 (closed GOPs of exactly ``gop`` frames, ``bframes`` B-frames).

    ``cuts`` are display indices where a new scene starts. ``frame_durations_ms`` makes the clip
    variable-frame-rate: frame i lasts ``frame_durations_ms[i % len]`` ms (time base 1/1000).
    ``rotation`` is stored as display-matrix side data (counter-clockwise degrees).
    """
    scene_starts = sorted(cuts)
    pts_ms = None
    if frame_durations_ms:
        durations = [frame_durations_ms[i % len(frame_durations_ms)] for i in range(num_frames)]
        pts_ms = [0, *itertools.accumulate(durations)][:num_frames]
    frames = (
        draw_frame(i, width, height, sum(1 for c in scene_starts if i >= c))
        for i in range(num_frames)
    )
    return write_h264(
        path,
        frames,
        width,
        height,
        fps,
        crf=crf,
        gop=gop,
        scenecut=False,
        bframes=bframes,
        pts_ms=pts_ms,
        rotation=rotation,
    )


def synth_clip(**params: object) -> Path:
    """Path of a cached clip made by :func:`write_clip` with ``params`` (built on first use)."""
    key = hashlib.sha1(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:12]
    path = cache_dir() / f"clip-{key}.mp4"
    if not path.exists():
        write_clip(path, **params)  # type: ignore[arg-type]
    return path
