"""``vlmctx toylab train`` and ``vlmctx toylab run``: the toy lab's two jobs.

``train`` trains (and by default re-ships) the toy-lab checkpoint (``pipelines/toylab/train.py``);
``run`` is the experiment over position schemes x pooling x video length
(``eval/toylab_experiment.py``, a lateral import: this front end drives an eval job, as
``vlmctx batch`` drives the engine).
"""

from __future__ import annotations

import argparse
from typing import Any


def _train(args: argparse.Namespace) -> int:
    from pipelines.toylab.train import train

    summary = train(args)
    acc = ", ".join(f"{k} {v:.0%}" for k, v in summary["accuracy_at_trained_length"].items())
    print(f"trained in {summary['train_seconds']:.0f} s, final loss {summary['final_loss']:.3f}; "
          f"held-out accuracy at {args.max_frames} frames: {acc}; checkpoint: {args.out}")  # fmt: skip
    return 0


def _run(args: argparse.Namespace) -> int:
    from eval.toylab_experiment import execute

    return execute(args)


def register(sub: Any) -> None:
    """Add ``toylab`` with its ``train`` and ``run`` subcommands to the ``vlmctx`` parser."""
    from eval.toylab_experiment import add_args as run_args
    from pipelines.toylab.train import add_args as train_args

    p = sub.add_parser(
        "toylab",
        help="train the small toy-lab VLM on synthetic videos, or run its long-video experiment",
        description="The toy lab (docs/toylab.md): a tiny Qwen2-VL trained here on <= 16-frame "
        "synthetic videos, evaluated at up to 16x that length under each position scheme.",
    )
    jobs = p.add_subparsers(dest="toylab_job", required=True, metavar="{train,run}")
    t = jobs.add_parser("train", help="train the toy-lab model from scratch (CPU, ~15 min)")
    train_args(t)
    t.set_defaults(func=_train)
    r = jobs.add_parser("run", help="schemes x pooling x 1x-16x frames, then `vlmctx report`")
    run_args(r)
    r.set_defaults(func=_run)
