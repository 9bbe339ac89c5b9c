"""Patchify / unpatchify frames into FAR tokens (fine short-term and coarse long-term grids).

Long-term compression in FAR (arXiv 2503.19325 v3 §5.4) is a coarser patchify of the same frame:
``ctx_kernel`` x ``ctx_kernel`` short-term tokens become one token of ``ctx_kernel**2`` times the
width, which a separate embedding projects to the model width.
"""

from __future__ import annotations

import torch


def patchify(frames: torch.Tensor, patch: int) -> torch.Tensor:
    """Frames [b, t, c, H, W] -> tokens [b, t, (H/p)*(W/p), c*p*p] in row-major grid order."""
    b, t, c, hh, ww = frames.shape
    gh, gw = hh // patch, ww // patch
    x = frames.reshape(b, t, c, gh, patch, gw, patch)  # [b, t, c, h, p, w, p]
    x = x.permute(0, 1, 3, 5, 2, 4, 6)  # [b, t, h, w, c, p, p]
    return x.reshape(b, t, gh * gw, c * patch * patch)


def unpatchify(tokens: torch.Tensor, patch: int, channels: int, height: int, width: int):
    """Tokens [b, t, n, c*p*p] -> frames [b, t, c, H, W] (inverse of :func:`patchify`)."""
    b, t = tokens.shape[:2]
    gh, gw = height // patch, width // patch
    x = tokens.reshape(b, t, gh, gw, channels, patch, patch)  # [b, t, h, w, c, p, p]
    x = x.permute(0, 1, 4, 2, 5, 3, 6)  # [b, t, c, h, p, w, p]
    return x.reshape(b, t, channels, height, width)
