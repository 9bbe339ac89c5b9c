"""Benchmark: FAR 64-frame rollout with the KV cache vs recomputing the context every step.

Runs both side by side in one process on the same model, context and noise, for the ``full``
layout (every frame at full resolution; short FAR) and the ``longshort`` layout (window + compressed
long-term frames; FAR-Long two-level cache), and records the wall time of every generated frame so
the per-frame cost can be read against the frame index (flat with long-term compression). Also
checks that cached and recomputed frames agree. Writes ``eval/bench/results/far_rollout.{json,md}``.

    python -m vlmctx_eval.bench.far_rollout [--model far-shapes] [--frames 64] [--steps 25]
        [--batch 4]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from vlmctx.far import RolloutConfig, load_model, rollout

RESULTS = Path(__file__).parent / "results"


def timed_rollout(model, context, noise, rc: RolloutConfig) -> tuple[torch.Tensor, list[float]]:
    """Roll out and return (frames, seconds per generated frame)."""
    stamps = [time.perf_counter()]
    out = rollout(
        model,
        context,
        noise.shape[1],
        rc,
        noise=noise,
        on_frame=lambda i, x: stamps.append(time.perf_counter()),
    )
    return out, [b - a for a, b in zip(stamps[:-1], stamps[1:], strict=True)]


def run(
    model_name: str, frames: int, steps: int, context_len: int, threads: int, batch: int = 1
) -> dict:
    torch.set_num_threads(threads)
    model, _ = load_model(model_name)
    cfg = model.cfg
    gen = torch.Generator().manual_seed(0)
    context = torch.randn(batch, context_len, cfg.channels, cfg.height, cfg.width, generator=gen)
    context = context.clamp(-1, 1)
    noise = torch.randn(batch, frames, cfg.channels, cfg.height, cfg.width, generator=gen)
    rows = {}
    for layout in ("full", "longshort"):
        res = {}
        for cached in (True, False):
            rc = RolloutConfig(steps=steps, layout=layout, use_cache=cached)
            out, per_frame = timed_rollout(model, context, noise, rc)
            res["cached" if cached else "recompute"] = (out, per_frame)
        (a, ta), (b, tb) = res["cached"], res["recompute"]
        rows[layout] = {
            "cached_s": sum(ta),
            "recompute_s": sum(tb),
            "speedup": sum(tb) / sum(ta),
            "max_abs_diff": float((a - b).abs().max()),
            "cached_per_frame_s": ta,
            "recompute_per_frame_s": tb,
        }
    return {
        "model": model_name,
        "frames": frames,
        "steps": steps,
        "context": context_len,
        "threads": threads,
        "batch": batch,
        "machine": f"{platform.machine()} {platform.processor() or ''}",
        "torch": torch.__version__,
        "layouts": rows,
    }


def _quarters(xs: list[float]) -> str:
    q = len(xs) // 4
    return " / ".join(f"{1000 * sum(xs[i * q : (i + 1) * q]) / q:.1f}" for i in range(4))


def to_markdown(r: dict) -> str:
    lines = [
        f"# FAR rollout benchmark ({r['frames']} frames, {r['steps']} Euler steps, batch {r['batch']}, "
        f"{r['threads']} CPU threads, torch {r['torch']})",
        "",
        "| layout | KV cache (s) | recompute (s) | speed-up | max abs diff | cached ms/frame by "
        "quarter | recompute ms/frame by quarter |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, row in r["layouts"].items():
        lines.append(
            f"| {name} | {row['cached_s']:.2f} | {row['recompute_s']:.2f} | "
            f"{row['speedup']:.1f}x | {row['max_abs_diff']:.1e} | "
            f"{_quarters(row['cached_per_frame_s'])} | {_quarters(row['recompute_per_frame_s'])} |"
        )
    lines += [
        "",
        "Command: `python -m vlmctx_eval.bench.far_rollout` (machine shared with other jobs).",
    ]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="far-shapes")
    p.add_argument("--frames", type=int, default=64)
    p.add_argument("--steps", type=int, default=25, help="Euler steps (paper speed test: 25)")
    p.add_argument("--context", type=int, default=8)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch", type=int, default=4, help="videos rolled out together (paper: 4)")
    p.add_argument("--out", default=str(RESULTS / "far_rollout"))
    args = p.parse_args(argv)
    r = run(args.model, args.frames, args.steps, args.context, args.threads, args.batch)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out + ".json").write_text(json.dumps(r, indent=1) + "\n")
    Path(args.out + ".md").write_text(to_markdown(r))
    print(to_markdown(r))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
