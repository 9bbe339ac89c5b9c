"""Write generated frames to mp4 (the project's H.264 writer) or gif (Pillow), upscaled for viewing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vlmctx.errors import ConfigError
from vlmctx.video.synthetic.writer import write_h264

SUFFIXES = (".mp4", ".gif")


def to_uint8(frames: torch.Tensor, scale: int = 1) -> np.ndarray:
    """Frames [t, c, H, W] in [-1, 1] -> uint8 RGB [t, H*scale, W*scale, 3] (nearest upscale)."""
    x = ((frames.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    if x.shape[1] == 1:
        x = x.repeat(1, 3, 1, 1)  # gray -> RGB
    x = x.permute(0, 2, 3, 1).numpy()  # [t, H, W, 3]
    if scale > 1:
        x = x.repeat(scale, axis=1).repeat(scale, axis=2)
    return np.ascontiguousarray(x)


def write_video(frames: torch.Tensor, path: str | Path, fps: int = 8, scale: int = 8) -> Path:
    """Write frames [t, c, H, W] in [-1, 1] to ``path`` (.mp4 or .gif)."""
    path = Path(path)
    if path.suffix.lower() not in SUFFIXES:
        raise ConfigError(f"output {path.name!r} must end in one of {SUFFIXES}")
    path.parent.mkdir(parents=True, exist_ok=True)
    rgb = to_uint8(frames, scale)
    if path.suffix.lower() == ".gif":
        from PIL import Image

        imgs = [Image.fromarray(f) for f in rgb]
        imgs[0].save(path, save_all=True, append_images=imgs[1:], duration=1000 // fps, loop=0)
        return path
    h, w = rgb.shape[1] // 2 * 2, rgb.shape[2] // 2 * 2  # x264 with yuv420p needs even sides
    # near-lossless at x264's default preset (medium)
    return write_h264(path, (f[:h, :w] for f in rgb), w, h, fps, crf=10, preset="medium")
