"""Batch throughput: decoding overlapped with inference vs decode-then-infer, in one run.

Twenty generated H.264 clips of mixed lengths (2-40 s, long GOPs, so decoding the sampled frames
costs real time) go through :func:`pipelines.batch_qa.run_batch` twice with the same loaded model:
``sequential`` decodes each video inline right before its questions (``decode_workers=0``);
``overlapped`` lets decode worker processes prefetch the next videos while the model answers.
The goal is >= 1.5x items per second; answers must be identical in both modes.

    python -m eval.bench.batch                      # tiny-qwen2_vl on CPU
    python -m eval.bench.batch --device cuda --model tiny-qwen2_vl
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from pipelines.batch.items import Item, item_id
from pipelines.batch_qa import BatchOptions, run_batch
from vlmctx.config import ContextConfig

RESULTS = Path(__file__).parent / "results"


def make_videos(folder: Path, n: int, size: tuple[int, int]) -> list[Path]:
    """``n`` clips of mixed lengths (2..40 s at 25 fps, GOP 250, B-frames): cached by name."""
    from vlmctx.video.synth import write_clip

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(n):
        seconds = 2 + (k * 7) % 39  # 2, 9, 16, ... mixed, deterministic
        p = folder / f"v{k:02d}-{seconds}s-{size[0]}x{size[1]}.mp4"
        if not p.exists():
            write_clip(p, width=size[0], height=size[1], num_frames=25 * seconds, gop=250)
        paths.append(p)
    return paths


def _run(mode: str, items: list[Item], lm, args: argparse.Namespace, out: Path) -> dict:
    out.unlink(missing_ok=True)
    opts = BatchOptions(
        output=str(out),
        model=args.model,
        config=lm.config,
        max_new_tokens=args.max_new_tokens,
        decode_workers=0 if mode == "sequential" else args.workers,
        prefetch=args.workers,
        progress=False,
    )
    t0 = time.perf_counter()
    summary = run_batch(items, opts, lm=lm)
    wall = time.perf_counter() - t0
    recs = [json.loads(x) for x in out.read_text().splitlines()]
    stage = {
        k: round(sum(r["timings"][k] for r in recs if r["timings"]), 3)
        for k in ("decode", "encode", "prefill", "generate")
    }
    return {
        "mode": mode,
        "items": len(recs),
        "failed": summary.failed,
        "seconds": round(wall, 3),
        "items_per_s": round(len(recs) / wall, 4),
        "stage_seconds_sum": stage,
        "answers": {r["id"]: r["answer"] for r in recs},
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="tiny-qwen2_vl")
    p.add_argument("--device", default="cpu")
    p.add_argument("--videos", type=int, default=20)
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--size", default="320x240", help="clip size WxH")
    p.add_argument("--max-new-tokens", type=int, default=16)
    p.add_argument("--workers", type=int, default=2, help="decode processes when overlapped")
    p.add_argument("--work-dir", default=os.path.join(tempfile.gettempdir(), "vlmctx-bench-batch"))
    p.add_argument("--out", default=str(RESULTS / "batch"), help="writes OUT.json and OUT.md")
    args = p.parse_args(argv)
    from vlmctx.engine import VideoLM

    w, h = (int(x) for x in args.size.split("x"))
    work = Path(args.work_dir)
    videos = make_videos(work / "videos", args.videos, (w, h))
    q = "What happens in this video?"
    items = [Item(item_id(str(v), q), str(v), q) for v in videos]
    lm = VideoLM.load(
        args.model, ContextConfig(sampler_params={"n": args.frames}), device=args.device
    )
    _run("sequential", items[:2], lm, args, work / "warmup.jsonl")  # lazy inits off the clock
    runs = [_run(m, items, lm, args, work / f"{m}.jsonl") for m in ("sequential", "overlapped")]
    same = runs[0].pop("answers") == runs[1].pop("answers")
    speedup = runs[1]["items_per_s"] / runs[0]["items_per_s"]
    result = {
        "model": args.model,
        "device": lm.device,
        "videos": args.videos,
        "video_seconds": [int(v.name.split("-")[1][:-1]) for v in videos],
        "config": lm.config.to_dict(),
        "max_new_tokens": args.max_new_tokens,
        "decode_workers": args.workers,
        "cpus": os.cpu_count(),
        "host": platform.machine(),
        "runs": runs,
        "speedup": round(speedup, 3),
        "answers_identical": same,
        "goal": ">= 1.5x items/s overlapped vs sequential",
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out + ".json").write_text(json.dumps(result, indent=2) + "\n")
    Path(args.out + ".md").write_text(table(result))
    print(table(result))
    return 0


def table(r: dict) -> str:
    head = (
        f"# Batch throughput: overlapped vs sequential decode+infer\n\n"
        f"{r['videos']} generated clips ({min(r['video_seconds'])}-{max(r['video_seconds'])} s), "
        f"{r['config']['sampler_params']} frames, model `{r['model']}` on {r['device']}, "
        f"{r['decode_workers']} decode workers, {r['cpus']} CPUs. Command: "
        f"`python -m eval.bench.batch --device {r['device']}`.\n\n"
        "| mode | items | seconds | items/s | sum decode s | sum encode+prefill+generate s |\n"
        "|---|---|---|---|---|---|\n"
    )
    rows = "".join(
        f"| {x['mode']} | {x['items']} | {x['seconds']:.2f} | {x['items_per_s']:.3f} | "
        f"{x['stage_seconds_sum']['decode']:.2f} | "
        f"{sum(v for k, v in x['stage_seconds_sum'].items() if k != 'decode'):.2f} |\n"
        for x in r["runs"]
    )
    tail = (
        f"\nSpeedup {r['speedup']:.2f}x (goal >= 1.5x); answers identical in both modes: "
        f"{r['answers_identical']}.\n"
    )
    return head + rows + tail


if __name__ == "__main__":
    raise SystemExit(main())
