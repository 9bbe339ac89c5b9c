"""Experiment: the toy-lab model, trained on <= 16 frames, asked about videos of 1x to 16x that.

The shipped ``toylab`` model (a 1M-parameter Qwen2-VL trained here, ``pipelines/toylab/train.py``)
answers the toy-lab questions (:mod:`vlmctx_eval.tasks.toylab`) on videos of 16, 32, 64, 128 and 256
frames at 1 fps, under every position scheme (``default``, ``pi``, ``ntk``, ``yarn``, ``vcwe`` in
both readings — one RoPE for the whole sequence, or extended frequencies for visual tokens only —
``v2pe``, ``mrope_pp``) with and without ``progressive`` pooling: 16 configurations on one loaded
model, each written as an ordinary ``vlmctx eval`` run directory, then compared by
``vlmctx report``. The schemes take their automatic settings relative to what the checkpoint
declares: ``max_position_embeddings`` (the position range of its longest training sequence) for
PI/NTK/YaRN/M-RoPE++/V2PE, and ``visual_window`` (visual tokens of its longest training video) for
VCWE. Resumable (each run directory resumes); the summary table goes to
``eval/bench/results/toylab.{md,json}`` with the report's plots beside it.

    vlmctx toylab run                   # ~15 min on 2 CPU cores
    python -m vlmctx_eval.toylab_experiment --per-cell 4 --frames 16,64   # a quick look
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

RESULTS = Path(__file__).parent / "bench" / "results"
SCHEMES = ("default", "pi", "ntk", "yarn", "vcwe", "vcwe:apply_to=visual", "v2pe", "mrope_pp")
POOLING = ("none", "progressive")


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


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Evaluate every configuration; return {label: {frames: accuracy}} plus per-task tables."""
    from vlmctx.engine import VideoLM
    from vlmctx_eval.runner import RunOptions, evaluate, run_dir_name
    from vlmctx_eval.tasks.toylab import ToyLab

    out = Path(args.output_path)
    data = out / f"data-{args.frames.replace(',', '_')}-n{args.per_cell}-s{args.seed}"
    task = ToyLab(dir=str(data), frames=args.frames, per_cell=args.per_cell, seed=args.seed)
    base = VideoLM.load(args.model, device="cpu")
    grid = configs(args.schemes.split(","), args.pooling.split(","))
    models = [base.with_config(cfg) for cfg in grid]  # bad names fail here, before any data
    base.frames_cache_size = len(task.load().samples) + 1  # decode each clip once for all configs
    header_base = {"model": args.model, "model_info": base.info(), "mode": "generate"}
    summary: dict[str, Any] = {}
    t0 = time.perf_counter()
    for cfg, lm in zip(grid, models, strict=True):
        run_dir = out / run_dir_name(args.model, cfg.to_dict())
        header = {**header_base, "config": cfg.to_dict(), "command": "vlmctx toylab run"}
        opts = RunOptions(progress=not args.no_progress)
        log.warning("toylab: position=%s pooling=%s -> %s", cfg.position, cfg.pooling, run_dir)
        doc = evaluate(lm, {"toylab": task}, run_dir, opts, header)
        assert doc is not None
        res = doc["results"]["toylab"]
        summary[label(cfg)] = res["breakdowns"]["by_frames"]
    return {"seconds": round(time.perf_counter() - t0, 1), "runs": summary,
            "frames": args.frames, "per_cell": args.per_cell, "seed": args.seed}  # fmt: skip


def markdown(doc: dict[str, Any]) -> str:
    """Accuracy (%) per configuration x frame count: the mean over questions, then each one."""
    runs = doc["runs"]
    first = next(iter(runs.values()))
    frames = list(first["accuracy"])
    kinds = list(first)
    lines = [
        "# Toy lab: accuracy vs video length per position scheme and pooling",
        "",
        f"Model `toylab` (trained on <= 16 frames), {doc['per_cell']} questions per question kind "
        f"and length, seed {doc['seed']}; {doc['seconds']:.0f} s on the CPU. Command: "
        "`vlmctx toylab run`. Exact-match accuracy in %; 16 frames = the trained length.",
        "",
    ]
    for kind in kinds:
        title = "mean over question kinds" if kind == "accuracy" else f"`{kind}`"
        lines += [f"## {title}", "", "| scheme + pooling | " + " | ".join(frames) + " |",
                  "|---|" + "---|" * len(frames)]  # fmt: skip
        for label, bd in runs.items():
            row = bd.get(kind, {})
            cells = [f"{row[f]:.0f}" if f in row else "" for f in frames]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_args(p)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    return execute(args)


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="toylab", help="checkpoint (default: the shipped toylab)")
    p.add_argument("--output-path", default="toylab_results", help="run directories go here")
    p.add_argument("--frames", default="16,32,64,128,256", help="video lengths in frames")
    p.add_argument("--per-cell", type=int, default=40, help="questions per kind and length")
    p.add_argument("--schemes", default=",".join(SCHEMES), help="position schemes to compare")
    p.add_argument("--pooling", default=",".join(POOLING), help="poolers to compare")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--results", default=str(RESULTS), help="where the summary table goes")
    p.add_argument("--no-progress", action="store_true")


def execute(args: argparse.Namespace) -> int:
    """Run the grid, write the summary table and the ``vlmctx report`` of all runs."""
    from vlmctx_eval.report import write_report

    doc = run(args)
    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    (results / "toylab.json").write_text(json.dumps(doc, indent=2) + "\n")
    (results / "toylab.md").write_text(markdown(doc) + "\n")
    written = write_report([args.output_path], str(Path(args.output_path) / "report"), ["md"])
    report = results / "toylab_report"
    shutil.rmtree(report, ignore_errors=True)
    report.mkdir()
    for path in written:  # the report (tables, one plot per question kind) goes beside the table
        shutil.copy(path, report / Path(path).name)
        if path.endswith("plot_toylab_accuracy_by_frames.png"):
            shutil.copy(path, results / "toylab.png")
    print(markdown(doc))
    print(f"table: {results / 'toylab.md'}; report: {Path(args.output_path) / 'report'}")
    return 0


def register(jobs: Any) -> None:
    """Add ``run`` to the subcommands of ``vlmctx toylab`` (``jobs``; entry point ``toylab.run``,
    beside ``toylab.train`` from the pipelines room)."""
    r = jobs.add_parser("run", help="schemes x pooling x 1x-16x frames, then `vlmctx report`")
    add_args(r)
    r.set_defaults(func=execute)


if __name__ == "__main__":
    raise SystemExit(main())
