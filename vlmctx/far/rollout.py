"""FAR rollout: frame-by-frame flow-matching Euler sampling with a KV cache (arXiv 2503.19325, §4).

Frames are generated one at a time: each new frame starts from Gaussian noise and is denoised by
Euler steps ``x <- x + (sigma_next - sigma) * v`` from sigma=1 to 0, attending to the clean frames
before it (flagged CLEAN, or LONG when compressed). Three context layouts:

* ``full``: every earlier frame at full token resolution (short FAR). The cache is append-only.
* ``window``: only the last ``window - 1`` clean frames (a sliding window; older frames dropped).
* ``longshort``: the window at full resolution plus every older frame compressed (FAR-Long). The
  two-level cache keeps compressed frames (L2, append-only) and re-encodes the window (L1) once
  per new frame, because the frame that just left the window is now seen compressed.

The uncached path recomputes the whole context at every denoising step and is the reference the
cache must match (tests check it). FlexRoPE (:class:`FlexRoPE`) is a sampling-time switch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from vlmctx.errors import ConfigError
from vlmctx.far.cache import KVCache
from vlmctx.far.model import CLEAN, LONG, NOISY, FARModel, Segment
from vlmctx.far.patches import patchify, unpatchify
from vlmctx.far.rope import FlexRoPE

log = logging.getLogger(__name__)
LAYOUTS = ("full", "window", "longshort")


@dataclass(frozen=True)
class RolloutConfig:
    """How to roll out: Euler ``steps``, context ``layout``, FlexRoPE, CFG scale, KV cache on/off."""

    steps: int = 20
    layout: str = "longshort"
    flex: FlexRoPE = field(default_factory=FlexRoPE)
    cfg_scale: float = 1.0
    use_cache: bool = True

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ConfigError(f"unknown context layout {self.layout!r}; choose one of {LAYOUTS}")
        if self.steps < 1:
            raise ConfigError("steps must be >= 1")


def _segment(frames: torch.Tensor, ids: range, patch: int, state: int) -> Segment:
    """A clean segment of frames[:, ids] patchified with ``patch`` (fine or coarse)."""
    sel = frames[:, ids.start : ids.stop]
    b, t = sel.shape[:2]
    return Segment(
        patchify(sel, patch),
        torch.arange(ids.start, ids.stop, device=frames.device),
        torch.zeros(b, t, device=frames.device),
        torch.full((b, t), state, dtype=torch.long, device=frames.device),
    )


def _concat(a: Segment, b: Segment) -> Segment:
    """Frames of ``a`` followed by frames of ``b`` (same stream)."""
    return Segment(
        torch.cat([a.tokens, b.tokens], 1),  # [b, ta+tb, n, d]
        torch.cat([a.frames, b.frames]),
        torch.cat([a.sigma, b.sigma], 1),
        torch.cat([a.state, b.state], 1),
    )


class _Roller:
    """State of one rollout: the clean frames so far and the caches."""

    def __init__(self, model: FARModel, rc: RolloutConfig, y: torch.Tensor | None) -> None:
        self.model, self.rc, self.y = model, rc, y
        self.cfg = model.cfg
        self.l2: KVCache | None = None  # compressed long-term frames (longshort) / all (full)
        self.n_cached = 0  # frames already in self.l2

    def split(self, t_now: int) -> tuple[range, range]:
        """(long-term ids, short-term clean ids) of the context when generating frame t_now."""
        if self.rc.layout == "full":
            return range(0, 0), range(0, t_now)
        start = max(0, t_now - self.cfg.window + 1)
        long_ids = range(0, start) if self.rc.layout == "longshort" else range(0, 0)
        return long_ids, range(start, t_now)

    def noisy(self, x: torch.Tensor, t_now: int, sigma: float) -> Segment:
        b = x.shape[0]
        return Segment(
            patchify(x[:, None], self.cfg.patch),
            torch.tensor([t_now], device=x.device),
            torch.full((b, 1), sigma, device=x.device),
            torch.full((b, 1), NOISY, dtype=torch.long, device=x.device),
        )

    def cache_step(self, frames: torch.Tensor, t_now: int) -> KVCache | None:
        """Encode what changed since the last frame; return the cache to attend to."""
        long_ids, short_ids = self.split(t_now)
        cfg, model = self.cfg, self.model
        if self.rc.layout == "full":
            new = range(self.n_cached, t_now)
            if len(new):
                _, kv = model(
                    _segment(frames, new, cfg.patch, CLEAN),
                    y=self.y,
                    past=self.l2,
                    flex=self.rc.flex,
                    return_kv=True,
                )
                self.l2, self.n_cached = KVCache.cat([self.l2, kv]), t_now
            return self.l2
        new_long = range(self.n_cached, long_ids.stop)
        ctx = (
            _segment(frames, new_long, cfg.patch * cfg.ctx_kernel, LONG) if len(new_long) else None
        )
        if not len(short_ids):
            return self.l2
        _, kv = model(
            _segment(frames, short_ids, cfg.patch, CLEAN),
            ctx=ctx,
            y=self.y,
            past=self.l2,
            flex=self.rc.flex,
            return_kv=True,
        )
        n_new_long = 0 if ctx is None else len(new_long) * cfg.ctx_tokens_per_frame
        if n_new_long:
            self.l2 = KVCache.cat([self.l2, kv.select(0, n_new_long)])
            self.n_cached = long_ids.stop
        return KVCache.cat([self.l2, kv.select(n_new_long)])

    def velocity(self, frames, x, t_now, sigma, past) -> torch.Tensor:
        """Velocity of the noisy frame, from the cache or by recomputing the whole context."""
        cfg, noisy = self.cfg, self.noisy(x, t_now, sigma)
        if self.rc.use_cache:
            v = self.model(noisy, y=self.y, past=past, flex=self.rc.flex)
        else:
            long_ids, short_ids = self.split(t_now)
            ctx = None
            if len(long_ids):
                ctx = _segment(frames, long_ids, cfg.patch * cfg.ctx_kernel, LONG)
            main = noisy
            if len(short_ids):
                main = _concat(_segment(frames, short_ids, cfg.patch, CLEAN), noisy)
            v = self.model(main, ctx=ctx, y=self.y, flex=self.rc.flex)[:, -1:]
        return unpatchify(v, cfg.patch, cfg.channels, cfg.height, cfg.width)[:, 0]


def _guided(rc: RolloutConfig, y: torch.Tensor | None, num_classes: int, batch: int):
    """Labels for the model batch: with CFG the batch is doubled as [cond; null]."""
    if y is None or rc.cfg_scale == 1.0 or not num_classes:
        return y, 1
    null = torch.full_like(y, num_classes)
    return torch.cat([y, null]), 2


@torch.no_grad()
def rollout(
    model: FARModel,
    context: torch.Tensor,
    n_new: int,
    rc: RolloutConfig | None = None,
    y: torch.Tensor | None = None,
    noise: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    on_frame: Callable[[int, torch.Tensor], None] | None = None,
) -> torch.Tensor:
    """Generate ``n_new`` frames after ``context`` [b, t0, c, H, W] -> [b, n_new, c, H, W].

    ``noise`` [b, n_new, c, H, W] fixes the initial noise of each frame (else drawn from
    ``generator``); ``on_frame(index, frame)`` is called after each generated frame.
    """
    rc = rc or RolloutConfig()
    cfg = model.cfg
    b, t0 = context.shape[:2]
    if context.shape[2:] != (cfg.channels, cfg.height, cfg.width):
        raise ConfigError(
            f"context frames are {tuple(context.shape[2:])}, the model expects "
            f"{(cfg.channels, cfg.height, cfg.width)} (c, H, W); resize the context first"
        )
    if noise is None:
        shape = (b, n_new, cfg.channels, cfg.height, cfg.width)
        noise = torch.randn(shape, generator=generator, device=context.device)
    y_model, rep = _guided(rc, y, cfg.num_classes, b)
    roller = _Roller(model, rc, y_model)
    frames = context.repeat(rep, 1, 1, 1, 1)  # [rep*b, t, c, H, W]
    sigmas = torch.linspace(1.0, 0.0, rc.steps + 1).tolist()
    out = []
    for i in range(n_new):
        t_now = t0 + i
        past = None
        if rc.use_cache:
            past = roller.cache_step(frames, t_now)
            past = None if past is None else model.rotate_cache(past, rc.flex)  # once per frame
        x = noise[:, i]
        for s, s_next in zip(sigmas[:-1], sigmas[1:], strict=True):
            v = roller.velocity(frames, x.repeat(rep, 1, 1, 1), t_now, s, past)
            if rep == 2:
                v_c, v_u = v.chunk(2)
                v = v_u + rc.cfg_scale * (v_c - v_u)
            x = x + (s_next - s) * v
        out.append(x)
        frames = torch.cat([frames, x.repeat(rep, 1, 1, 1)[:, None]], dim=1)
        if on_frame is not None:
            on_frame(i, x)
    return torch.stack(out, dim=1)
