"""Train a FAR model (arXiv 2503.19325) with checkpoints and exact resume.

Each step draws a clip length ``n`` in [window, max_len] (the first ``n - window`` frames become
compressed long-term context, as in FAR-Long's trainer) and a batch of clips, either synthetic
moving shapes (seeds derived from ``(seed, step)``, so a resumed run sees the same data as an
uninterrupted one) or random clips from a folder of videos. AdamW, constant LR after a short
warm-up, grad clip 1.0 (paper hyper-parameters, LR raised for the tiny CPU models). Checkpoints:
``model.safetensors`` + ``config.json`` (loadable by :func:`vlmctx.far.load_model`) and
``train_state.pt`` (optimizer, step, loss log) for ``--resume``.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from vlmctx.errors import ConfigError
from vlmctx.far.checkpoint import save_checkpoint
from vlmctx.far.config import preset
from vlmctx.far.data import ShapesSpec, VideoFolderClips, shapes_batch
from vlmctx.far.model import FARModel
from vlmctx.far.objective import flow_matching_loss

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """A training run; written into the checkpoint's config.json."""

    out: str
    data: str = "synthetic-shapes"
    preset: str = "cpu"
    steps: int = 1000
    batch: int = 32
    max_len: int = 16
    lr: float = 1e-3
    warmup: int = 50
    p_clean: float | None = None  # None: the preset's value
    class_cond: bool = False
    seed: int = 0
    save_every: int = 100
    time_limit_min: float | None = None
    threads: int | None = None


def _batch(tc: TrainConfig, cfg, folder, step: int, n: int):
    rng = np.random.default_rng([tc.seed, step])
    if folder is None:
        seeds = rng.integers(0, 1_000_000, size=tc.batch)  # held-out seeds start at 1e6
        spec = ShapesSpec(size=cfg.height, channels=cfg.channels)
        frames, labels = shapes_batch(seeds, n, spec)
        return frames, labels if tc.class_cond else None
    return folder.batch(rng, tc.batch, n), None


def _build(tc: TrainConfig):
    overrides = {}
    if tc.p_clean is not None:
        overrides["p_clean"] = tc.p_clean
    if tc.class_cond:
        if tc.data != "synthetic-shapes":
            raise ConfigError("--class-cond needs labels; only synthetic-shapes has them")
        overrides["num_classes"] = ShapesSpec().max_shapes
    cfg = preset(tc.preset, **overrides)
    if tc.max_len < cfg.window:
        raise ConfigError(f"--max-len {tc.max_len} must be >= the window ({cfg.window})")
    folder = None
    if tc.data != "synthetic-shapes":
        if not Path(tc.data).is_dir():
            raise ConfigError(
                f"--data {tc.data!r} is neither 'synthetic-shapes' nor a folder of videos"
            )
        folder = VideoFolderClips(tc.data, cfg.height, cfg.channels, tc.max_len)
    return cfg, folder


def train(tc: TrainConfig, resume: bool = False, progress=None) -> dict:
    """Run (or resume) training; returns ``{"step", "losses", "seconds"}``."""
    if tc.threads:
        torch.set_num_threads(tc.threads)
    cfg, folder = _build(tc)
    torch.manual_seed(tc.seed)
    model = FARModel(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=tc.lr, weight_decay=0.0, betas=(0.9, 0.999))
    out = Path(tc.out)
    state = {"step": 0, "losses": [], "seconds": 0.0}
    if resume and (out / "train_state.pt").is_file():
        from safetensors.torch import load_file

        model.load_state_dict(load_file(str(out / "model.safetensors")))
        saved = torch.load(out / "train_state.pt", weights_only=False)
        opt.load_state_dict(saved["optimizer"])
        state = saved["state"]
        log.info("resumed from %s at step %d", out, state["step"])
    model.train()
    t_start = time.perf_counter() - state["seconds"]
    while state["step"] < tc.steps:
        step = state["step"]
        rng = np.random.default_rng([tc.seed, step, 1])
        n = int(rng.integers(cfg.window, tc.max_len + 1))
        clip, y = _batch(tc, cfg, folder, step, n)
        for g in opt.param_groups:
            g["lr"] = tc.lr * min(1.0, (step + 1) / max(1, tc.warmup))
        gen = torch.Generator().manual_seed(tc.seed * 1_000_003 + step)
        loss = flow_matching_loss(model, clip, y=y, generator=gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        state["step"] = step + 1
        state["losses"].append(loss.item())
        state["seconds"] = time.perf_counter() - t_start
        if progress:
            progress(state)
        over_time = tc.time_limit_min and state["seconds"] > 60 * tc.time_limit_min
        if state["step"] % tc.save_every == 0 or state["step"] == tc.steps or over_time:
            _save(model, opt, tc, state, out)
        if over_time:
            log.warning("time limit %.1f min reached at step %d", tc.time_limit_min, state["step"])
            break
    return state


def _save(model: FARModel, opt, tc: TrainConfig, state: dict, out: Path) -> None:
    meta = {"train": asdict(tc), "step": state["step"], "train_seconds": round(state["seconds"], 1)}
    meta["final_loss_avg50"] = float(np.mean(state["losses"][-50:]))
    save_checkpoint(model, out, meta)
    torch.save({"optimizer": opt.state_dict(), "state": state}, out / "train_state.pt")
    (out / "losses.json").write_text(json.dumps(state["losses"]))
