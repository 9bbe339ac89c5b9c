"""``vlmctx toylab train``: train (and by default re-ship) the toy-lab checkpoint.

Registered as the entry point ``toylab.train`` (``pyproject.toml``), so ``vlmctx`` adds it under
the ``toylab`` command group; its sibling ``vlmctx toylab run``, the experiment over position
schemes x pooling x video length, comes from the eval room (``eval/toylab_experiment.py``). The
two rooms never import each other (docs/architecture-notes.md).
"""

from __future__ import annotations

import argparse
from typing import Any


def _train(args: argparse.Namespace) -> int:
    from vlmctx_pipelines.toylab.train import train

    summary = train(args)
    acc = ", ".join(f"{k} {v:.0%}" for k, v in summary["accuracy_at_trained_length"].items())
    print(f"trained in {summary['train_seconds']:.0f} s, final loss {summary['final_loss']:.3f}; "
          f"held-out accuracy at {args.max_frames} frames: {acc}; checkpoint: {args.out}")  # fmt: skip
    return 0


def register(jobs: Any) -> None:
    """Add ``train`` to the subcommands of ``vlmctx toylab`` (``jobs``)."""
    from vlmctx_pipelines.toylab.train import add_args

    t = jobs.add_parser("train", help="train the toy-lab model from scratch (CPU, ~15 min)")
    add_args(t)
    t.set_defaults(func=_train)
