"""Training data for FAR: procedurally generated moving shapes, and clips from a folder of videos.

``synthetic-shapes``: 1..``max_shapes`` axis-aligned rectangles of random size and brightness on a
dark background, moving at integer velocities and bouncing off the walls. Dynamics are
deterministic given the first frames, so PSNR against the ground-truth future is meaningful, and
every sequence is a pure function of its seed (train and held-out sets use disjoint seed ranges).
Frames are float32 in [-1, 1], shape [t, c, H, W]. The label is ``number of shapes - 1``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vlmctx.errors import DataFormatError, VideoDecodeError

HELDOUT_SEED_OFFSET = 1_000_000  # held-out sequences use seeds >= this; training uses below
READ_CHUNK = 128  # full-size frames decoded per reader call when reading a video


@dataclass(frozen=True)
class ShapesSpec:
    """Geometry of the synthetic moving-shapes videos."""

    size: int = 16
    channels: int = 1
    max_shapes: int = 2
    min_side: int = 3
    max_side: int = 5
    max_speed: int = 1


def _bounce(p: int, v: int, hi: int) -> tuple[int, int]:
    p += v
    if p < 0:
        p, v = -p, -v
    elif p > hi:
        p, v = 2 * hi - p, -v
    return p, v


def shapes_sequence(seed: int, n_frames: int, spec: ShapesSpec = ShapesSpec()):
    """One sequence -> (frames float32 [t, c, H, W] in [-1, 1], label int)."""
    rng = np.random.default_rng(seed)
    k = int(rng.integers(1, spec.max_shapes + 1))
    shapes = []
    for _ in range(k):
        hh, ww = rng.integers(spec.min_side, spec.max_side + 1, size=2)
        speeds = [v for v in range(-spec.max_speed, spec.max_speed + 1)]
        while True:
            vy, vx = rng.choice(speeds, size=2)
            if vy or vx:
                break
        y = int(rng.integers(0, spec.size - hh + 1))
        x = int(rng.integers(0, spec.size - ww + 1))
        colour = rng.uniform(0.3, 1.0, size=spec.channels)
        shapes.append([y, x, int(vy), int(vx), int(hh), int(ww), colour])
    video = np.zeros((n_frames, spec.channels, spec.size, spec.size), np.float32)
    for t in range(n_frames):
        for s in shapes:
            y, x, _, _, hh, ww, colour = s
            patch = video[t, :, y : y + hh, x : x + ww]
            np.maximum(patch, colour[:, None, None], out=patch)
            s[0], s[2] = _bounce(y, s[2], spec.size - hh)
            s[1], s[3] = _bounce(x, s[3], spec.size - ww)
    return video * 2.0 - 1.0, k - 1


def shapes_batch(seeds, n_frames: int, spec: ShapesSpec = ShapesSpec()):
    """Stack sequences for ``seeds`` -> (frames [b, t, c, H, W], labels [b])."""
    seqs = [shapes_sequence(int(s), n_frames, spec) for s in seeds]
    frames = torch.from_numpy(np.stack([f for f, _ in seqs]))
    return frames, torch.tensor([lab for _, lab in seqs])


def read_video_frames(path: str | Path, size: int, channels: int, max_frames: int | None = None):
    """Decode a video with the project's reader -> float32 [t, c, size, size] in [-1, 1] (gray if
    channels=1). Every frame (or the first ``max_frames``) in display order and orientation, each
    converted and resized with Pillow (bilinear), a chunk of full-size frames at a time."""
    from PIL import Image

    from vlmctx.video import probe

    info = probe(path)  # raises VideoNotFoundError / VideoDecodeError with what to do
    total = info.num_frames if not max_frames else min(max_frames, info.num_frames)
    if total == 0:
        raise VideoDecodeError(f"{path} decoded to zero frames; pass a non-empty video")
    mode = "L" if channels == 1 else "RGB"
    frames = []
    for rgb in _decode_all(info, total):  # (h, w, 3) uint8
        img = Image.fromarray(rgb).convert(mode).resize((size, size), Image.BILINEAR)
        arr = np.asarray(img, np.float32).reshape(size, size, channels)
        frames.append(arr.transpose(2, 0, 1) / 127.5 - 1.0)
    return np.stack(frames)


def _decode_all(info, total: int):  # noqa: ANN001 - VideoInfo
    """Frames 0..total-1 of ``info`` as uint8 RGB (h, w, 3), read ``READ_CHUNK`` at a time; a
    chunk ends at a keyframe where one falls inside it, so the next one decodes from there."""
    from vlmctx.video import read_frames
    from vlmctx.video.types import Selection

    start = 0
    while start < total:
        stop = min(start + READ_CHUNK, total)
        inner = info.keyframes[(info.keyframes > start) & (info.keyframes < stop)]
        stop = int(inner[-1]) if len(inner) else stop
        idx = np.arange(start, stop, dtype=np.int64)
        sel = Selection(indices=idx, pts_s=info.pts_s[idx], sample_fps=info.fps, sampler="all")
        yield from read_frames(info, sel, backend="auto").data
        start = stop


class VideoFolderClips:
    """Random clips from every video in a folder (decoded once, kept in memory; small data)."""

    EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".gif")

    def __init__(self, folder: str | Path, size: int, channels: int, min_frames: int) -> None:
        folder = Path(folder)
        files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in self.EXTENSIONS)
        if not files:
            raise DataFormatError(f"no videos ({', '.join(self.EXTENSIONS)}) under {folder}")
        self.videos = [read_video_frames(p, size, channels) for p in files]
        self.videos = [v for v in self.videos if len(v) >= min_frames]
        if not self.videos:
            raise DataFormatError(f"no video under {folder} has >= {min_frames} frames")

    def batch(self, rng: np.random.Generator, batch: int, n_frames: int) -> torch.Tensor:
        """A batch of random clips [b, t, c, H, W]."""
        out = []
        for _ in range(batch):
            v = self.videos[int(rng.integers(len(self.videos)))]
            if len(v) < n_frames:
                raise DataFormatError(
                    f"a video has {len(v)} < {n_frames} frames; use shorter clips"
                )
            start = int(rng.integers(0, len(v) - n_frames + 1))
            out.append(v[start : start + n_frames])
        return torch.from_numpy(np.stack(out))
