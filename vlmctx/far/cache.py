"""KV cache of FAR: un-rotated keys and values of clean context tokens, per layer.

The cache also keeps each cached token's position (frame, row, col) and frame id, because RoPE
and the FlexRoPE bias are applied at attention time (see :mod:`vlmctx.far.rope`). The
two-level cache of FAR-Long (arXiv 2503.19325 v3, commit db0fac5) is two of these objects: L2
holds compressed long-term frames (append-only), L1 the short-term window (re-encoded whenever a
frame leaves the window); the rollout attends to ``KVCache.cat([l2, l1])``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class KVCache:
    """Per-layer keys/values [b, heads, n, hd] with token positions [n, 3] and frame ids [n].

    ``rotated`` optionally holds the keys after RoPE for one temporal scale, so the denoising steps
    of a frame do not re-rotate the whole cache; ``select``/``cat`` drop it (un-rotated keys are
    the source of truth).
    """

    keys: list[torch.Tensor]
    values: list[torch.Tensor]
    pos: torch.Tensor
    frames: torch.Tensor
    rotated: list[torch.Tensor] | None = None  # keys after RoPE, valid for rotated_interp
    rotated_interp: float | None = None

    @property
    def length(self) -> int:
        return int(self.frames.numel())

    def select(self, start: int, stop: int | None = None) -> KVCache:
        """Tokens ``start:stop`` of the cache (a view, no copy)."""
        sl = slice(start, stop)
        return KVCache(
            [k[:, :, sl] for k in self.keys],
            [v[:, :, sl] for v in self.values],
            self.pos[sl],
            self.frames[sl],
        )

    @staticmethod
    def cat(parts: list[KVCache | None]) -> KVCache | None:
        """Concatenate caches along the token axis, skipping ``None`` and empty parts."""
        parts = [p for p in parts if p is not None and p.length > 0]
        if not parts:
            return None
        if len(parts) == 1:
            return parts[0]
        depth = len(parts[0].keys)
        return KVCache(
            [torch.cat([p.keys[i] for p in parts], dim=2) for i in range(depth)],
            [torch.cat([p.values[i] for p in parts], dim=2) for i in range(depth)],
            torch.cat([p.pos for p in parts]),
            torch.cat([p.frames for p in parts]),
        )

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.keys + self.values)
