"""``vlmctx toylab train``: train (and by default re-ship) the toy-lab checkpoint.

Registered as the entry point ``toylab.train`` (``pyproject.toml``), so ``vlmctx`` adds it under
the ``toylab`` command group; its sibling ``vlmctx toylab run``, the experiment over position
schemes x pooling x video length, comes from the eval room (``eval/experiments/toylab/experiment.py``). The
two rooms never import each other (docs/architecture-notes.md).
"""

from __future__ import annotations

import argparse
from typing import Any

from vlmctx.cli.argtypes import int_at_least, nonneg_int, output_dir, positive_float, positive_int

# A user folder (the current directory), not the installed package: the shipped checkpoint is what
# the Quickstart's `--model toylab` loads, and a training run must not overwrite it by default.
DEFAULT_OUT = "toylab_model"


def _train(args: argparse.Namespace) -> int:
    from vlmctx_pipelines.toylab.train import SHIPPED, train

    summary = train(args)
    acc = ", ".join(f"{k} {v:.0%}" for k, v in summary["accuracy_at_trained_length"].items())
    print(
        f"trained in {summary['train_seconds']:.0f} s, final loss {summary['final_loss']:.3f}; "
        f"held-out accuracy at {args.max_frames} frames: {acc}; "
        f"checkpoint: {args.out or SHIPPED}"
    )
    return 0


def add_args(p: argparse.ArgumentParser) -> None:
    """The training flags (here, not in ``train.py``: building the parser must not import numpy
    or torch, so ``vlmctx --help`` stays fast)."""
    p.add_argument(
        "-o",
        "--out",
        type=output_dir,
        default=DEFAULT_OUT,
        help=f"checkpoint folder to write (default ./{DEFAULT_OUT}; never the shipped "
        "checkpoint that `--model toylab` loads unless given its folder)",
    )
    p.add_argument("--steps", type=positive_int, default=3000, help="optimizer steps (3000)")
    p.add_argument("--batch", type=positive_int, default=16, help="questions per step (16)")
    p.add_argument("--lr", type=positive_float, default=3e-3, help="peak learning rate (3e-3)")
    p.add_argument("--warmup", type=nonneg_int, default=100, help="linear warm-up steps (100)")
    p.add_argument(
        "--max-frames", type=positive_int, default=16, help="longest training video (16)"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (0)")
    p.add_argument(
        "--frame-pixels",
        type=int_at_least(256),  # the processors' minimum: one 16x16 token
        default=1024,
        help="pixel budget per frame (default 1024: a 4:3 frame becomes 16x32, 1 visual token per "
        "frame, a 16-token visual window; 2048: 32x48, 3 tokens per frame, a 48-token window: "
        "with --rope-theta 100 the realistic-window variant of docs/toylab.md)",
    )
    p.add_argument(
        "--rope-theta", type=positive_float, default=10_000.0, help="RoPE base theta (10000)"
    )
    p.add_argument(
        "--threads",
        type=positive_int,
        default=1,
        help="torch threads (default 1: on 2 shared cores more threads oversubscribe)",
    )
    p.add_argument(
        "--eval-items", type=nonneg_int, default=40, help="held-out questions per task (40)"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def register(jobs: Any) -> None:
    """Add ``train`` to the subcommands of ``vlmctx toylab`` (``jobs``)."""
    t = jobs.add_parser(
        "train",
        help="train the toy-lab model from scratch (CPU, ~15 min)",
        description="Train the toy-lab VLM (a 1M-parameter Qwen2-VL) on synthetic videos of at "
        "most --max-frames frames, evaluate it on held-out questions, and save a checkpoint that "
        "`--model DIR` loads. Without -o it writes ./toylab_model; the shipped checkpoint is rewritten only when -o names "
        "its folder (docs/toylab.md).",
        epilog="examples:\n"
        "  vlmctx toylab train -o /tmp/toylab --steps 200      # a quick, weak model\n"
        '  vlmctx ask sample "What colour is the ball?" --model /tmp/toylab --fps 1\n'
        "  vlmctx toylab train -o vlmctx/models/checkpoints/toylab  # re-train the shipped one",
    )
    add_args(t)
    t.set_defaults(func=_train)
