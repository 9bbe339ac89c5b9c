"""Video prediction on held-out synthetic shapes: error per future frame vs rollout length.

Held-out clips use seeds from ``HELDOUT_SEED_OFFSET`` on, disjoint from training seeds. The model
sees ``context`` ground-truth frames and rolls out ``horizon`` frames; PSNR/SSIM are computed per
future frame against ground truth and averaged over clips. The copy-last-frame baseline (repeat
the last context frame) is reported alongside: a model that learned the motion must beat it.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import torch

from vlmctx.far.data import HELDOUT_SEED_OFFSET, ShapesSpec, shapes_batch
from vlmctx.far.model import FARModel
from vlmctx.far.rollout import RolloutConfig, rollout
from vlmctx_eval.tasks.videogen.metrics import psnr, ssim


@dataclass
class PredictionResult:
    """Per-future-frame means over clips (lists of length ``horizon``) and run facts."""

    psnr: list[float]
    ssim: list[float]
    copy_last_psnr: list[float]
    copy_last_ssim: list[float]
    seconds: float

    def to_dict(self) -> dict:
        return asdict(self)


def heldout_clips(n_clips: int, n_frames: int, size: int, channels: int = 1, first: int = 0):
    """Held-out ground-truth clips [n, t, c, H, W] (deterministic)."""
    seeds = range(HELDOUT_SEED_OFFSET + first, HELDOUT_SEED_OFFSET + first + n_clips)
    frames, _ = shapes_batch(seeds, n_frames, ShapesSpec(size=size, channels=channels))
    return frames


@torch.no_grad()
def evaluate_prediction(
    model: FARModel,
    n_clips: int = 16,
    context: int = 8,
    horizon: int = 8,
    rc: RolloutConfig | None = None,
    seed: int = 0,
    clips: torch.Tensor | None = None,
) -> PredictionResult:
    """Roll out ``horizon`` frames after ``context`` ground-truth frames; score every frame."""
    cfg = model.cfg
    if clips is None:
        clips = heldout_clips(n_clips, context + horizon, cfg.height, cfg.channels)
    gt_ctx, gt_future = clips[:, :context], clips[:, context : context + horizon]
    gen = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    pred = rollout(model, gt_ctx, horizon, rc, generator=gen)
    seconds = time.perf_counter() - t0
    copy = gt_ctx[:, -1:].expand_as(gt_future)
    return PredictionResult(
        psnr=psnr(pred, gt_future).mean(0).tolist(),
        ssim=ssim(pred, gt_future).mean(0).tolist(),
        copy_last_psnr=psnr(copy, gt_future).mean(0).tolist(),
        copy_last_ssim=ssim(copy, gt_future).mean(0).tolist(),
        seconds=seconds,
    )
