"""`vlmctx train-far` and `vlmctx generate`: argparse plumbing for the FAR jobs.

Each ``register_*`` adds one subparser and sets ``func`` to a handler ``(args) -> int``; bad input
raises :mod:`vlmctx.errors` exceptions, which the ``vlmctx`` CLI prints as one line.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from vlmctx.cli.argtypes import (
    existing_file,
    finite_float,
    float_in,
    nonneg_int,
    output_dir,
    output_file,
    positive_float,
    positive_int,
    probability,
)
from vlmctx.errors import BudgetExceededError, ConfigError

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

# The names of vlmctx.far.config.PRESETS and vlmctx.far.rollout.LAYOUTS, written out: importing
# vlmctx.far imports torch, and building the parser must not (`vlmctx --help` stays fast).
# tests/far/test_cli_and_checkpoint.py checks that they agree.
PRESETS = ("cpu", "far-b", "far-l", "far-m", "far-xl", "tiny")
LAYOUTS = ("full", "window", "longshort")


def register_train(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``train-far``: train a FAR video model with checkpoints and resume."""
    p = subparsers.add_parser(
        "train-far",
        help="train a FAR video model (flow matching, frame-causal) on shapes or a video folder",
        description="Train FAR (arXiv 2503.19325). Writes model.safetensors + config.json "
        "(usable as `vlmctx generate --model OUT`) and train_state.pt for --resume.",
        epilog="examples:\n"
        "  vlmctx train-far -o /tmp/far --preset tiny --steps 200     # a minute on a CPU\n"
        "  vlmctx train-far -o /tmp/far --resume --steps 400          # continue to step 400\n"
        "  vlmctx train-far -o /tmp/far --data videos/ --time-limit 30",
    )
    p.add_argument(
        "--data",
        default="synthetic-shapes",
        help="'synthetic-shapes' (procedural, seeded) or a folder of videos",
    )
    p.add_argument("-o", "--out", type=output_dir, required=True, help="checkpoint folder")
    p.add_argument("--preset", default="cpu", choices=PRESETS, help="model size")
    p.add_argument("--steps", type=positive_int, default=1000, help="total optimizer steps")
    p.add_argument("--batch", type=positive_int, default=16, help="clips per step")
    p.add_argument(
        "--max-len",
        type=positive_int,
        default=16,
        help="longest training clip; frames before the window are compressed context",
    )
    p.add_argument("--lr", type=positive_float, default=1e-3, help="AdamW learning rate (constant)")
    p.add_argument(
        "--p-clean",
        type=probability,
        default=None,
        help="stochastic clean-context probability (default: the preset's, 0.1)",
    )
    p.add_argument("--class-cond", action="store_true", help="condition on #shapes (CFG-ready)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save-every", type=positive_int, default=100, help="checkpoint every N steps")
    p.add_argument(
        "--time-limit",
        type=positive_float,
        default=None,
        metavar="MIN",
        help="stop (and save) after this many minutes",
    )
    p.add_argument("--threads", type=positive_int, default=None, help="torch CPU threads")
    p.add_argument("--resume", action="store_true", help="continue from OUT/train_state.pt")
    p.set_defaults(func=run_train)
    return p


def run_train(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from vlmctx_pipelines.far.train import TrainConfig, train

    if args.data != "synthetic-shapes" and not Path(args.data).is_dir():
        raise ConfigError(f"--data {args.data!r}: give 'synthetic-shapes' or a folder of videos")
    if args.resume and not (Path(args.out) / "train_state.pt").is_file():
        raise ConfigError(f"--resume: no {Path(args.out) / 'train_state.pt'}; drop --resume")
    tc = TrainConfig(
        out=args.out,
        data=args.data,
        preset=args.preset,
        steps=args.steps,
        batch=args.batch,
        max_len=args.max_len,
        lr=args.lr,
        p_clean=args.p_clean,
        class_cond=args.class_cond,
        seed=args.seed,
        save_every=args.save_every,
        time_limit_min=args.time_limit,
        threads=args.threads,
    )
    bar = tqdm(total=tc.steps, desc="train-far", unit="step")

    def progress(state: dict) -> None:
        bar.n = state["step"]
        bar.set_postfix(loss=f"{sum(state['losses'][-20:]) / len(state['losses'][-20:]):.4f}")
        bar.refresh()

    state = train(tc, resume=args.resume, progress=progress)
    bar.close()
    print(f"saved {args.out} at step {state['step']} ({state['seconds']:.0f} s)")
    return 0


def register_generate(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``generate``: continue a video with a FAR model and write mp4/gif."""
    p = subparsers.add_parser(
        "generate",
        help="continue a video with a FAR model (KV-cached rollout) and write mp4/gif",
        description="Roll out FAR frame by frame after the frames of --context (resized to the "
        "model's resolution). Without --context a held-out synthetic-shapes clip is used.",
        epilog="examples:\n"
        "  vlmctx generate --frames 16 -o shapes.gif              # the shipped far-shapes model\n"
        "  vlmctx generate --model /tmp/far --frames 32 -o out.mp4 --layout window\n"
        "  vlmctx generate --context clip.mp4 --frames 24 -o more.gif --flexrope 0.1",
    )
    p.add_argument("--model", default="far-shapes", help="shipped model name or checkpoint folder")
    p.add_argument("--context", type=existing_file, help="context video (mp4, gif, ...)")
    p.add_argument(
        "--context-frames",
        type=positive_int,
        default=8,
        help="use the last K frames of the context video (default 8)",
    )
    p.add_argument(
        "--frames", type=positive_int, required=True, help="number of frames to generate"
    )
    p.add_argument(
        "-o", "--output", type=output_file((".mp4", ".gif")), required=True, help=".mp4 or .gif"
    )
    p.add_argument(
        "--flexrope",
        type=float_in(0.0),
        default=0.0,
        metavar="SLOPE",
        help="FlexRoPE temporal decay per frame of distance (0 = plain RoPE)",
    )
    p.add_argument(
        "--rope-interp",
        type=positive_float,
        default=1.0,
        help="scale temporal RoPE positions (1 = raw / extrapolate)",
    )
    p.add_argument(
        "--layout",
        default="longshort",
        choices=LAYOUTS,
        help="context: all frames full-res, sliding window, or window + compressed",
    )
    p.add_argument(
        "--steps", type=positive_int, default=20, help="Euler flow-matching steps per frame"
    )
    p.add_argument("--cfg", type=finite_float, default=1.0, help="classifier-free guidance scale")
    p.add_argument("--label", type=nonneg_int, default=None, help="class label (class-cond)")
    p.add_argument("--no-cache", action="store_true", help="recompute the context every step")
    p.add_argument("--seed", type=int, default=0, help="noise seed (and shapes clip seed)")
    p.add_argument("--include-context", action="store_true", help="prepend the context frames")
    p.add_argument("--fps", type=positive_int, default=8, help="frames per second of the file")
    p.add_argument(
        "--scale", type=positive_int, default=8, help="nearest-neighbour upscale for viewing"
    )
    p.set_defaults(func=run_generate)
    return p


def _context(args: argparse.Namespace, cfg) -> torch.Tensor:
    import torch

    from vlmctx.far.data import (
        HELDOUT_SEED_OFFSET,
        ShapesSpec,
        read_video_frames,
        shapes_sequence,
    )

    if args.context_frames < 1:
        raise ConfigError("--context-frames must be >= 1")
    if args.context is None:
        spec = ShapesSpec(size=cfg.height, channels=cfg.channels)
        frames, _ = shapes_sequence(HELDOUT_SEED_OFFSET + args.seed, args.context_frames, spec)
    else:
        if cfg.height != cfg.width:
            raise ConfigError("this model has non-square frames; --context is not supported")
        frames = read_video_frames(args.context, cfg.height, cfg.channels)
    return torch.from_numpy(frames[-args.context_frames :])[None]  # [1, t, c, H, W]


def run_generate(args: argparse.Namespace) -> int:
    import torch
    from tqdm import tqdm

    from vlmctx.far import FlexRoPE, RolloutConfig, load_model, rollout
    from vlmctx_pipelines.far.video_io import SUFFIXES, write_video

    if args.frames < 1:
        raise ConfigError(f"--frames must be >= 1 (got {args.frames})")
    if Path(args.output).suffix.lower() not in SUFFIXES:
        raise ConfigError(f"-o {args.output!r}: the output must end in one of {SUFFIXES}")
    model, _ = load_model(args.model)
    if args.label is not None and not 0 <= args.label < model.cfg.num_classes:
        raise ConfigError(
            f"--label {args.label}: model {args.model!r} has {model.cfg.num_classes} classes "
            "(0 = unconditional; drop --label)"
        )
    check_memory(model.cfg, args)  # before any frame is made: 10^8 frames is refused here
    context = _context(args, model.cfg)
    rc = RolloutConfig(
        steps=args.steps,
        layout=args.layout,
        cfg_scale=args.cfg,
        flex=FlexRoPE(args.flexrope, args.rope_interp),
        use_cache=not args.no_cache,
    )
    y = None if args.label is None else torch.tensor([args.label])
    gen = torch.Generator().manual_seed(args.seed)
    with tqdm(total=args.frames, desc="generate", unit="frame") as bar:
        video = rollout(
            model, context, args.frames, rc, y=y, generator=gen, on_frame=lambda i, x: bar.update(1)
        )
    frames = torch.cat([context, video], 1) if args.include_context else video
    write_video(frames[0], args.output, fps=args.fps, scale=args.scale)
    print(f"wrote {args.output} ({frames.shape[1]} frames)")
    return 0


def rollout_bytes(cfg, args: argparse.Namespace) -> dict[str, int]:
    """Upper bound of what a rollout holds, per part: frames (float32, context + generated,
    kept twice while written), the KV cache of the layout, and the upscaled uint8 output."""
    total = args.context_frames + args.frames
    pixels = cfg.channels * cfg.height * cfg.width
    tokens = (cfg.height // cfg.patch) * (cfg.width // cfg.patch)  # per full-resolution frame
    kv_frames = {"full": total, "window": min(cfg.window, total)}.get(
        args.layout,
        min(cfg.window, total) + total / cfg.ctx_kernel**2,  # longshort
    )
    ctx_tokens = tokens * {"full": args.context_frames, "window": min(cfg.window, total)}.get(
        args.layout, min(cfg.window, total) + args.context_frames / cfg.ctx_kernel**2
    )
    return {
        "frames": 2 * total * pixels * 4,
        "kv cache": int(kv_frames * tokens * cfg.depth * 2 * cfg.dim * 4),
        "attention": int(ctx_tokens**2 * cfg.heads * 4),  # scores of the context's prefill
        "output": total * pixels * args.scale**2 * 3 // cfg.channels * 2,
    }


def check_memory(cfg, args: argparse.Namespace) -> None:
    """Refuse a rollout that cannot fit in free memory, like the planner does for VLMs."""
    import psutil

    from vlmctx.planner import human_bytes

    need = rollout_bytes(cfg, args)
    free = psutil.virtual_memory().available
    if sum(need.values()) > free:
        parts = ", ".join(f"{k} {human_bytes(v)}" for k, v in need.items())
        raise BudgetExceededError(
            f"{args.frames:,} frames after {args.context_frames:,} of context need about "
            f"{human_bytes(sum(need.values()))} ({parts}) but {human_bytes(free)} of memory is "
            "free: use fewer --frames or --context-frames, --layout window, or a smaller --scale"
        )
