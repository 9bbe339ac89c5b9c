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

from vlmctx.errors import DataFormatError, VideoDecodeError, VideoNotFoundError

HELDOUT_SEED_OFFSET = 1_000_000  # held-out sequences use seeds >= this; training uses below


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
    """Decode a video with PyAV -> float32 [t, c, size, size] in [-1, 1] (gray if channels=1)."""
    import av
    from PIL import Image

    path = Path(path)
    if not path.is_file():
        raise VideoNotFoundError(f"video {str(path)!r} does not exist; pass an existing file")
    mode = "L" if channels == 1 else "RGB"
    frames = []
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoDecodeError(f"{path} has no video stream; pass a video file")
            for frame in container.decode(video=0):
                img = frame.to_image().convert(mode).resize((size, size), Image.BILINEAR)
                arr = np.asarray(img, np.float32).reshape(size, size, channels)
                frames.append(arr.transpose(2, 0, 1) / 127.5 - 1.0)
                if max_frames and len(frames) >= max_frames:
                    break
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise VideoDecodeError(f"cannot decode {path}: {exc}; is it a video file?") from exc
    if not frames:
        raise VideoDecodeError(f"{path} decoded to zero frames; pass a non-empty video")
    return np.stack(frames)


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
