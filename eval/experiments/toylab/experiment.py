"""Experiment: the toy-lab model, trained on <= 16 frames, asked about videos of 1x to 16x that.

For each training seed, a toy-lab checkpoint (seed 0: the shipped ``toylab``, a 1M-parameter
Qwen2-VL trained here by ``pipelines/toylab/train.py``; seed N: a checkpoint trained the same way
with ``--seed N``) answers a fresh set of toy-lab questions (:mod:`vlmctx_eval.tasks.toylab`,
generated with the same seed) on videos of 16, 32, 64, 128 and 256 frames at 1 fps, under every
position scheme (``default``, ``pi``, ``ntk``, ``yarn``, ``vcwe`` in both readings -- one RoPE for
the whole sequence, or extended frequencies for visual tokens only -- ``v2pe``, ``mrope_pp``) with
and without ``progressive`` pooling: 16 configurations on one loaded model per seed, each written
as an ordinary ``vlmctx eval`` run directory (resumable). The schemes take their automatic
settings from what the checkpoint declares (``max_position_embeddings``, ``visual_window``).

All configurations answer the same questions, so the analysis (:mod:`vlmctx_eval.experiments.toylab.stats`)
is paired: per-question predictions of every seed go to
``eval/bench/results/toylab_predictions.jsonl.gz``, and the table with Wilson intervals and
McNemar tests to ``eval/bench/results/toylab.{md,json,png}``.

    vlmctx toylab run --seeds 0,1,2 --train-missing    # the committed table; cost: docs/toylab.md
    vlmctx toylab run --seeds 0 --per-cell 4 --frames 16,64 --results /tmp/t   # a quick look
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

from vlmctx.cli.argtypes import output_dir, positive_int
from vlmctx.errors import ConfigError

log = logging.getLogger(__name__)

SCHEMES = (
    "default",
    "pi",
    "ntk",
    "yarn",
    "vcwe:apply_to=all",
    "vcwe:apply_to=visual",
    "v2pe",
    "mrope_pp",
)
POOLING = ("none", "progressive")
SHIPPED = "toylab"  # the shipped checkpoint, trained with seed 0


def configs(schemes: list[str], pooling: list[str]) -> list[Any]:
    """One ``ContextConfig`` per (scheme, pooler), every frame at 1 fps. A scheme may carry
    parameters: ``vcwe:apply_to=visual`` (several joined by ``+``)."""
    from vlmctx.config import ContextConfig, parse_kv

    base = ContextConfig(sampler="fps", sampler_params={"fps": 1.0})
    out = []
    for p in pooling:
        for spec in schemes:
            name, _, params = spec.partition(":")
            kv = parse_kv(params.split("+")) if params else {}
            out.append(base.replace(position=name, position_params=kv, pooling=p))
    return out


def label(cfg: Any) -> str:
    params = ",".join(f"{k}={v}" for k, v in sorted(cfg.position_params.items()))
    return f"{cfg.position}{f'({params})' if params else ''} + {cfg.pooling}"


def seed_checkpoints(args: argparse.Namespace) -> list[tuple[int, str]]:
    """(seed, checkpoint) pairs: ``--checkpoints`` if given, else seed 0 -> the shipped
    ``toylab`` and seed N -> ``<output-path>/checkpoints/seedN``."""
    try:
        seeds = [int(x) for x in str(args.seeds).split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"--seeds takes integers joined by commas, got {args.seeds!r}") from None
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise ConfigError(f"--seeds needs distinct non-negative integers, got {args.seeds!r}")
    if args.checkpoints:
        ckpts = [c.strip() for c in args.checkpoints.split(",")]
        if len(ckpts) != len(seeds):
            raise ConfigError(
                f"--checkpoints names {len(ckpts)} checkpoints for {len(seeds)} seeds"
            )
    else:
        out = Path(args.output_path) / "checkpoints"
        ckpts = [SHIPPED if s == 0 else str(out / f"seed{s}") for s in seeds]
    return list(zip(seeds, ckpts, strict=True))


def ensure_checkpoints(pairs: list[tuple[int, str]], train_missing: bool) -> None:
    """Train the missing checkpoints (``vlmctx toylab train --seed N -o DIR``, ~16 min each on
    one quiet CPU thread) when asked; otherwise say how, before anything runs."""
    for seed, ckpt in pairs:
        if ckpt == SHIPPED or (Path(ckpt) / "config.json").exists():
            continue
        cmd = ["vlmctx", "toylab", "train", "--seed", str(seed), "-o", ckpt, "--no-progress"]
        if not train_missing:
            raise ConfigError(
                f"no checkpoint for seed {seed} at {ckpt!r}; train it with "
                f"`{' '.join(cmd)}` or pass --train-missing"
            )
        log.info("toylab: training seed %d -> %s", seed, ckpt)
        # the training job belongs to the pipelines room: run it through the public CLI
        done = subprocess.run([sys.executable, "-m", "vlmctx.cli", *cmd[1:]], check=False)
        if done.returncode != 0:
            raise ConfigError(f"training seed {seed} failed (exit {done.returncode})")


def run_seed(
    args: argparse.Namespace, seed: int, ckpt: str, grid: list[Any]
) -> tuple[list[dict], float]:
    """Every configuration on one checkpoint and its seed's questions: one row per question, and
    the model time of all answers (seconds, summed over the runs, so a resumed run counts it too)."""
    from vlmctx.engine import VideoLM
    from vlmctx_eval.harness.runner import RunOptions, evaluate, run_dir_name
    from vlmctx_eval.tasks.toylab import ToyLab

    out = Path(args.output_path) / f"seed{seed}"
    data = out / f"data-{args.frames.replace(',', '_')}-n{args.per_cell}-s{seed}"
    task = ToyLab(dir=str(data), frames=args.frames, per_cell=args.per_cell, seed=seed)
    base = VideoLM.load(ckpt, device="cpu")
    models = [base.with_config(cfg) for cfg in grid]
    samples = task.load().samples
    if not args.no_frames_cache:  # decode each clip once for all configs (~3.7 GB for 40 per cell)
        base.frames_cache_size = len(samples) + 1
    header_base = {"model": ckpt, "model_info": base.info(), "mode": "generate", "seed": seed}
    run_dirs = {}
    for cfg, lm in zip(grid, models, strict=True):
        run_dir = out / run_dir_name(ckpt, cfg.to_dict(), {"toylab": task})
        header = {**header_base, "config": cfg.to_dict(), "command": "vlmctx toylab run"}
        log.info("toylab: seed %d, %s -> %s", seed, label(cfg), run_dir)
        evaluate(lm, {"toylab": task}, run_dir, RunOptions(progress=not args.no_progress), header)
        run_dirs[label(cfg)] = run_dir
    return collect(seed, ckpt, samples, run_dirs)


def collect(
    seed: int, ckpt: str, samples: list[Any], run_dirs: dict[str, Path]
) -> tuple[list[dict], float]:
    """Merge the runs' scored samples into one row per question: every configuration's answer
    and whether it was right (the task's own exact-match score); and the summed model time."""
    rows = {
        s.id: {
            "seed": seed,
            "checkpoint": ckpt,
            "id": s.id,
            "kind": s.meta["task"],
            "frames": s.meta["frames"],
            "answer": s.target,
            "predictions": {},
            "correct": {},
        }
        for s in samples
    }
    model_s = 0.0
    for lb, run_dir in run_dirs.items():
        for line in (run_dir / "samples_toylab.jsonl").read_text().splitlines():
            rec = json.loads(line)
            row = rows[rec["sample_id"]]
            row["predictions"][lb] = rec["prediction"]
            row["correct"][lb] = int(rec["scores"].get("exact_match", 0.0) == 1.0)
            model_s += float(rec.get("latency_s") or 0.0)
    return list(rows.values()), model_s


def command_line(args: argparse.Namespace) -> str:
    """The ``vlmctx toylab run`` command that reproduces this run's table."""
    parts = ["vlmctx toylab run", f"--seeds {args.seeds}"]
    if args.checkpoints:
        parts.append(f"--checkpoints {args.checkpoints}")
    for flag, value, default in (
        ("--name", args.name, NAME),
        ("--frames", args.frames, FRAMES),
        ("--per-cell", args.per_cell, PER_CELL),
        ("--schemes", args.schemes, ",".join(SCHEMES)),
        ("--pooling", args.pooling, ",".join(POOLING)),
    ):
        if value != default:
            parts.append(f"{flag} {value}")
    return " ".join(parts)


FRAMES, PER_CELL, NAME = "16,32,64,128,256", 40, "toylab"


def _stem(text: str) -> str:
    """A results file stem: letters, digits, ``_`` and ``-`` only (never a path)."""
    if not text or not all(ch.isalnum() or ch in "_-" for ch in text):
        raise argparse.ArgumentTypeError(
            f"must be a file stem (letters, digits, _ or -), got {text!r}"
        )
    return text


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--seeds",
        default="0,1,2",
        help="training seeds (each also seeds its own question set; default 0,1,2)",
    )
    p.add_argument(
        "--checkpoints",
        default=None,
        help="one checkpoint per seed (default: seed 0 = the shipped toylab, seed N = "
        "<output-path>/checkpoints/seedN)",
    )
    p.add_argument(
        "--train-missing",
        action="store_true",
        help="train missing seed checkpoints first (~16 min each on one CPU thread)",
    )
    p.add_argument(
        "--output-path", type=output_dir, default="toylab_results", help="run directories go here"
    )
    p.add_argument("--frames", default=FRAMES, help="video lengths in frames")
    p.add_argument(
        "--per-cell", type=positive_int, default=PER_CELL, help="questions per kind and length"
    )
    p.add_argument("--schemes", default=",".join(SCHEMES), help="position schemes to compare")
    p.add_argument("--pooling", default=",".join(POOLING), help="poolers to compare")
    p.add_argument(
        "--results",
        type=output_dir,
        default=None,
        help="where the tables and predictions go (default: <output-path>/results; "
        "maintainers refresh the committed table with --results eval/bench/results)",
    )
    p.add_argument(
        "--name",
        type=_stem,
        default=NAME,
        help="file stem of the tables and predictions (<name>.md, <name>_predictions.jsonl.gz; "
        "also picks the claims tested, vlmctx_eval.experiments.toylab.stats.RESULT_SETS; default toylab)",
    )
    p.add_argument(
        "--no-frames-cache",
        action="store_true",
        help="decode every clip again for each configuration (less memory, ~1.5x the "
        "CPU; for running subsets of --schemes/--pooling in parallel processes)",
    )
    p.add_argument("--no-progress", action="store_true")


def execute(args: argparse.Namespace) -> int:
    """Check the grid, train missing seeds if asked, run every seed, write the tables."""
    from vlmctx.engine import check_config
    from vlmctx_eval.experiments.toylab.stats import write_results, write_rows

    pairs = seed_checkpoints(args)
    grid = configs(args.schemes.split(","), args.pooling.split(","))
    for cfg in grid:  # bad names fail here, before any training or data
        check_config(cfg)
    ensure_checkpoints(pairs, args.train_missing)
    rows, seconds = [], {}
    for seed, ckpt in pairs:
        part, model_s = run_seed(args, seed, ckpt, grid)
        rows += part
        seconds[str(seed)] = round(model_s, 1)
    # never into the installed package by default (a user's run must not overwrite the shipped
    # table); the committed table is refreshed with an explicit --results
    results = Path(args.results) if args.results else Path(args.output_path) / "results"
    results.mkdir(parents=True, exist_ok=True)
    preds = results / f"{args.name}_predictions.jsonl.gz"
    write_rows(preds, rows)
    run = {
        "command": command_line(args),
        "model_seconds": round(sum(seconds.values()), 1),
        "model_seconds_per_seed": seconds,
        "frames": args.frames,
        "per_cell": args.per_cell,
        "schemes": args.schemes,
        "pooling": args.pooling,
    }
    write_results(rows, results, run, args.name)
    print((results / f"{args.name}.md").read_text())
    print(f"tables: {results / f'{args.name}.md'}; predictions: {preds}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m vlmctx_eval.experiments.toylab.experiment ARGS`` = ``vlmctx toylab run ARGS`` (same errors,
    same exit codes)."""
    from vlmctx.cli import main as cli_main

    return cli_main(["toylab", "run", *(sys.argv[1:] if argv is None else argv)])


def register(jobs: Any) -> None:
    """Add ``run`` to the subcommands of ``vlmctx toylab`` (``jobs``; entry point ``toylab.run``,
    beside ``toylab.train`` from the pipelines room)."""
    r = jobs.add_parser(
        "run",
        help="seeds x schemes x pooling x 1x-16x frames, paired tests",
        description="The toy-lab experiment (docs/toylab.md): the toy-lab model of each seed "
        "answers generated questions about videos 1x-16x longer than it was trained on, under "
        "each position scheme and pooler; writes tables, paired tests and a report.",
        epilog="examples:\n"
        "  vlmctx toylab run --seeds 0 --frames 16,64 --per-cell 5 --output-path /tmp/tl\n"
        "  vlmctx toylab run --seeds 0,1,2 --train-missing        # hours on a CPU\n"
        "  vlmctx report toylab_results/",
    )
    add_args(r)
    r.set_defaults(func=execute)


if __name__ == "__main__":
    raise SystemExit(main())
