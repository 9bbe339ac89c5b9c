"""Poolers: per-frame output grids, and average pooling with unpooled-grid coordinates."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from vlmctx.errors import ConfigError
from vlmctx.registry import Registry


@dataclass(frozen=True)
class FramePooling:
    """A frame's pooling layout, the grid it is pooled to: ``out_h`` x ``out_w`` cells over its
    ``h`` x ``w`` grid."""

    h: int
    w: int
    out_h: int
    out_w: int
    kernel: int = 0  # > 0: fixed k x k cells (the last one cut at the edge); 0: adaptive bins

    @property
    def tokens(self) -> int:
        return self.out_h * self.out_w

    def bins(self, n: int, out: int) -> list[tuple[int, int]]:
        """[start, end) of each output cell along an axis: k-wide cells for a kernel layout,
        torch adaptive-pool bins otherwise."""
        if self.kernel:
            return [(i * self.kernel, min((i + 1) * self.kernel, n)) for i in range(out)]
        return [((i * n) // out, -((-(i + 1) * n) // out)) for i in range(out)]


class Pooler:
    """Base: ``per_frame`` gives each frame's pooling layout (the grid it is pooled to)."""

    def per_frame(self, t: int, h: int, w: int) -> list[FramePooling]:
        raise NotImplementedError


POOLERS: Registry[Pooler] = Registry("pooler")


def _kernel_pooling(h: int, w: int, k: int) -> FramePooling:
    return FramePooling(h, w, -(-h // k), -(-w // k), k)


def _check_positive(**values: int) -> None:
    for name, v in values.items():
        if int(v) != v or v < 1:
            raise ConfigError(f"{name} must be a positive integer, got {v!r}")


@POOLERS.register("none", summary="keep every frame's full token grid (identity)")
class NoPooling(Pooler):
    def per_frame(self, t: int, h: int, w: int) -> list[FramePooling]:
        return [FramePooling(h, w, h, w) for _ in range(t)]


@POOLERS.register("uniform", summary="pool every frame by kernel x kernel (LLaVA-OV style)")
class UniformPooling(Pooler):
    def __init__(self, kernel: int = 2) -> None:
        _check_positive(kernel=kernel)
        self.kernel = kernel

    def per_frame(self, t: int, h: int, w: int) -> list[FramePooling]:
        return [_kernel_pooling(h, w, self.kernel) for _ in range(t)]


@POOLERS.register("progressive", summary="VCWE progressive pooling: one full frame per group")
class ProgressivePooling(Pooler):
    def __init__(self, group: int = 4, kernel: int = 2, full: int = 0) -> None:
        _check_positive(group=group, kernel=kernel)
        if not 0 <= full < group:
            raise ConfigError(f"full must be in [0, group), got {full} with group {group}")
        self.group, self.kernel, self.full = group, kernel, full

    def per_frame(self, t: int, h: int, w: int) -> list[FramePooling]:
        return [
            FramePooling(h, w, h, w)
            if i % self.group == self.full
            else _kernel_pooling(h, w, self.kernel)
            for i in range(t)
        ]


@POOLERS.register("hybrid", summary="GIRAFFE hybrid resolution: 1 high-res + L-1 at m/ratio")
class HybridPooling(Pooler):
    def __init__(self, group: int = 4, ratio: float = 3.0) -> None:
        _check_positive(group=group)
        if ratio < 1:
            raise ConfigError(f"ratio must be >= 1, got {ratio}")
        self.group, self.ratio = group, float(ratio)

    def per_frame(self, t: int, h: int, w: int) -> list[FramePooling]:
        s = math.sqrt(self.ratio)
        low = FramePooling(h, w, max(1, round(h / s)), max(1, round(w / s)))
        return [FramePooling(h, w, h, w) if i % self.group == 0 else low for i in range(t)]


def pooled_token_count(pooler: Pooler, t: int, h: int, w: int) -> int:
    """Visual tokens of a t x h x w grid after pooling (what the memory planner uses)."""
    return sum(p.tokens for p in pooler.per_frame(t, h, w))


def _averaging(layout: FramePooling, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(cells, h*w) float32 matrix averaging each output cell's inputs, and the cells' (h, w)
    centres (cells, 2) in the unpooled grid."""
    rows, centres = [], []
    for hs, he in layout.bins(h, layout.out_h):
        for ws, we in layout.bins(w, layout.out_w):
            m = torch.zeros(h, w)
            m[hs:he, ws:we] = 1.0 / ((he - hs) * (we - ws))
            rows.append(m.reshape(-1))  # (h*w,)
            centres.append(((hs + he - 1) / 2, (ws + we - 1) / 2))
    return torch.stack(rows), torch.tensor(centres, dtype=torch.float32)


def pool_frames(
    emb: torch.Tensor, layouts: list[FramePooling]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Average ``emb`` (t, h, w, d) over each frame's cells.

    Returns ``(tokens, coords)``: tokens (n, d) in frame-major raster order, and coords (n, 3)
    float32 (t, h, w) of each cell's centre in the unpooled grid. Frames that share a layout are
    pooled by one batched matmul with an averaging matrix (identity for an unpooled frame, so
    ``none`` returns the embeddings exactly).
    """
    t, h, w, d = emb.shape
    if len(layouts) != t:
        raise ConfigError(f"{len(layouts)} frame pooling layouts for {t} frames")
    flat = emb.reshape(t, h * w, d)  # (t, h*w, d)
    groups: dict[FramePooling, list[int]] = {}
    for ti, layout in enumerate(layouts):
        groups.setdefault(layout, []).append(ti)
    tokens: list[torch.Tensor] = [emb.new_empty(0)] * t
    coords: list[torch.Tensor] = [torch.empty(0)] * t
    for layout, frames in groups.items():
        avg, centres = _averaging(layout, h, w)
        pooled = torch.matmul(
            avg.to(emb), flat[frames]
        )  # (cells, hw) @ (k, hw, d) -> (k, cells, d)
        for j, ti in enumerate(frames):
            tokens[ti] = pooled[j]
            coords[ti] = torch.cat([torch.full((len(centres), 1), float(ti)), centres], dim=1)
    return torch.cat(tokens), torch.cat(coords)
