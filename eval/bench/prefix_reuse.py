"""Encode a video once, ask it k questions: the prefix cache on vs off, side by side in one run.

A shape-true model (``shape-<card>``: the card's real widths, random weights, few layers; see
``vlmctx.models.tiny``) answers ``k`` = 15 different questions about the bundled sample video at
each frame count, the cache-off and the cache-on call of each question alternating (off, on,
off, on, ...) so that drift on a shared machine hits both alike. Totals for k = 1, 3 and 15 are
the first k questions of the series (the on series starts with an empty cache: its first
question is the miss that k = 1 pays). k = 1's overhead is also measured on its own,
``--repeats`` times with a fresh cache (median of the ratios). Per question: wall time, prefill
tokens computed, and the peak resident memory sampled during the call (CPU) or the CUDA
allocator's peak (GPU).

Goals (issue 28): total time at k = 15 <= 0.2x of no reuse, at k = 3 <= 0.45x, k = 1 overhead
<= 3%.

    python -m vlmctx_eval.bench.prefix_reuse --model shape-Qwen2.5-VL-3B-Instruct \\
        --frames 64 256 --out eval/bench/results/prefix_reuse
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import threading
import time
from pathlib import Path
from typing import Any

QUESTIONS = [
    "What colour is the ball?",
    "Where does the ball go?",
    "How many objects are there?",
    "What happens first?",
    "What happens at the end?",
    "Is the camera moving?",
    "What shape is in the corner?",
    "Does anything bounce?",
    "What is in the background?",
    "Which way does it roll?",
    "Is there any text?",
    "What changes halfway?",
    "How fast does it move?",
    "Describe the scene.",
    "Summarize the video in one sentence.",
]
KS = (1, 3, 15)


class PeakRSS:
    """Peak resident set size sampled every ``every_s`` during a ``with`` block (CPU runs)."""

    def __init__(self, every_s: float = 0.01) -> None:
        self.every_s, self.peak = every_s, 0
        self._stop = threading.Event()
        self._page = os.sysconf("SC_PAGE_SIZE")

    def _rss(self) -> int:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * self._page

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            time.sleep(self.every_s)

    def __enter__(self) -> PeakRSS:
        self.peak = self._rss()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())


def ask(lm: Any, video: str, question: str, max_new: int) -> dict[str, Any]:
    import torch

    cuda = lm.device.startswith("cuda")
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    with PeakRSS() as rss:
        t0, c0 = time.perf_counter(), time.process_time()
        answer = lm.ask(video, question, max_new_tokens=max_new)
        if cuda:
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        cpu = time.process_time() - c0
    peak = int(torch.cuda.max_memory_allocated()) if cuda else rss.peak
    return {
        "seconds": round(seconds, 4),
        "cpu_seconds": round(cpu, 4),
        "prefix_cache": answer.extra["prefix_cache"],
        "prefill_tokens": answer.extra["prefill_tokens"],
        "total_tokens": answer.total_tokens,
        "prefix_tokens": answer.extra["prefix_tokens"],
        "peak_memory_bytes": peak,
        "cache_bytes": lm.prefix_cache.nbytes,
    }


def series(on: Any, off: Any, video: str, args: argparse.Namespace) -> dict[str, Any]:
    """k = 15 questions, off and on alternating (which goes first alternates too)."""
    on.prefix_cache.clear()
    rows: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
    for i, q in enumerate(QUESTIONS[: max(KS)]):
        order = (("off", off), ("on", on)) if i % 2 == 0 else (("on", on), ("off", off))
        for name, lm in order:
            rows[name].append(ask(lm, video, q, args.max_new_tokens))
    totals = {}
    for k in KS:
        t_off = sum(r["seconds"] for r in rows["off"][:k])
        t_on = sum(r["seconds"] for r in rows["on"][:k])
        c_off = sum(r["cpu_seconds"] for r in rows["off"][:k])
        c_on = sum(r["cpu_seconds"] for r in rows["on"][:k])
        totals[str(k)] = {
            "off_s": round(t_off, 3),
            "on_s": round(t_on, 3),
            "ratio": round(t_on / t_off, 4),
            "off_cpu_s": round(c_off, 3),
            "on_cpu_s": round(c_on, 3),
            "cpu_ratio": round(c_on / c_off, 4),
            "prefill_off": sum(r["prefill_tokens"] for r in rows["off"][:k]),
            "prefill_on": sum(r["prefill_tokens"] for r in rows["on"][:k]),
        }
    return {"rows": rows, "totals": totals}


def k1_overhead(on: Any, off: Any, video: str, args: argparse.Namespace) -> dict[str, Any]:
    """One question with an empty cache (a miss) vs no cache, ``--repeats`` alternating pairs."""
    ratios, cpu, pairs = [], [], []
    for r in range(args.repeats):
        on.prefix_cache.clear()
        q = QUESTIONS[r % len(QUESTIONS)]
        if r % 2 == 0:
            a, b = ask(off, video, q, args.max_new_tokens), ask(on, video, q, args.max_new_tokens)
        else:
            b, a = ask(on, video, q, args.max_new_tokens), ask(off, video, q, args.max_new_tokens)
        ratios.append(b["seconds"] / a["seconds"])
        cpu.append(b["cpu_seconds"] / a["cpu_seconds"])
        pairs.append({"off": a, "on": b})
    return {
        "median_ratio": round(statistics.median(ratios), 4),
        "median_cpu_ratio": round(statistics.median(cpu), 4),
        "pairs": pairs,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from vlmctx.config import ContextConfig
    from vlmctx.engine import VideoLM
    from vlmctx.engine.prefix_cache import PrefixCache
    from vlmctx.runtime.assets import sample_video

    if args.threads:
        torch.set_num_threads(args.threads)
    video = str(sample_video())
    out: dict[str, Any] = {"model": args.model, "max_pixels": args.max_pixels, "results": {}}
    base = None
    for n in args.frames:
        cfg = ContextConfig(sampler_params={"n": n}, max_pixels=args.max_pixels)
        if base is None:
            base = VideoLM.load(args.model, cfg, device=args.device, dtype=args.dtype)
            out.update(device=base.device, dtype=str(base.loaded.model.dtype))
            out["layers"] = base.loaded.model.config.get_text_config().num_hidden_layers
        on = base.with_config(cfg)
        on.prefix_cache = PrefixCache(args.cache_bytes, offload=args.offload)
        off = VideoLM(base.loaded, cfg, base.model_id, base.device, prefix_cache=0)
        off._frames_cache = on._frames_cache
        on.frames(video)  # decode once, outside the timings (both share the frames cache)
        ask(off, video, "Warm up.", 1)
        t0 = time.perf_counter()
        res = series(on, off, video, args)
        res["k1_overhead"] = k1_overhead(on, off, video, args)
        res["wall_s"] = round(time.perf_counter() - t0, 1)
        out["results"][str(n)] = res
        k1 = res["k1_overhead"]
        print(
            f"{n} frames: {json.dumps(res['totals'])} k1 {k1['median_ratio']} cpu {k1['median_cpu_ratio']}"
        )
    return out


def markdown(doc: dict[str, Any], command: str) -> str:
    lines = [
        "# Prefix reuse: k questions about one video, prefix cache on vs off",
        "",
        f"Model `{doc['model']}` ({doc['layers']} language layer(s), real widths, random "
        f"weights), {doc['device']}, {doc['dtype']}, max_pixels {doc['max_pixels']}. "
        "Off and on calls alternate question by question in one run.",
        "",
        f"    {command}",
        "",
        "| frames | k | tokens/question | prefix | off wall s | on wall s | on/off wall "
        "| off CPU s | on CPU s | on/off CPU | goal | prefill tokens off | on |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    goals = {"1": "<= 1.03", "3": "<= 0.45", "15": "<= 0.2"}
    for n, res in doc["results"].items():
        first = res["rows"]["on"][0]
        for k, t in res["totals"].items():
            lines.append(
                f"| {n} | {k} | {first['total_tokens']} | {first['prefix_tokens']} | "
                f"{t['off_s']:.2f} | {t['on_s']:.2f} | {t['ratio']:.3f} | "
                f"{t['off_cpu_s']:.2f} | {t['on_cpu_s']:.2f} | {t['cpu_ratio']:.3f} | {goals[k]} | "
                f"{t['prefill_off']} | {t['prefill_on']} |"
            )
    lines += ["", "k = 1 on its own (a miss vs no cache, fresh cache each pair, median ratio):", ""]
    for n, res in doc["results"].items():
        o = res["k1_overhead"]
        lines.append(
            f"- {n} frames: wall {o['median_ratio']:.3f}, CPU {o['median_cpu_ratio']:.3f} "
            f"over {len(o['pairs'])} pairs"
        )
    lines += ["", "Peak memory per question (bytes; CPU: resident set sampled every 10 ms):", ""]
    for n, res in doc["results"].items():
        off_peak = max(r["peak_memory_bytes"] for r in res["rows"]["off"])
        on_peak = max(r["peak_memory_bytes"] for r in res["rows"]["on"])
        held = max(r["cache_bytes"] for r in res["rows"]["on"])
        lines.append(
            f"- {n} frames: off {off_peak / 2**20:.0f} MiB, on {on_peak / 2**20:.0f} MiB "
            f"(cache holds {held / 2**20:.0f} MiB)"
        )
    return "\n".join(lines) + "\n"


def plot(doc: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    for n, res in doc["results"].items():
        ks = [int(k) for k in res["totals"]]
        ax.plot(ks, [t["ratio"] for t in res["totals"].values()], "o-", label=f"{n} frames, wall")
        ax.plot(
            ks, [t["cpu_ratio"] for t in res["totals"].values()], "s:", label=f"{n} frames, CPU"
        )
    ax.plot(list(KS), [1.03, 0.45, 0.2], "k--", label="goal")
    ax.set_xscale("log")
    ax.set_xticks(list(KS), [str(k) for k in KS])
    ax.set_xlabel("questions per video (k)")
    ax.set_ylabel("total time, cache on / off")
    ax.set_title(f"Prefix reuse, {doc['model']} ({doc['layers']} LM layer)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="shape-Qwen2.5-VL-3B-Instruct")
    p.add_argument("--frames", type=int, nargs="+", default=[64, 256])
    p.add_argument("--max-pixels", type=int, default=None, help="per-frame pixel cap")
    p.add_argument("--max-new-tokens", type=int, default=1, help="1: an MCQ letter")
    p.add_argument("--repeats", type=int, default=3, help="k = 1 overhead pairs")
    p.add_argument("--device", default="auto")
    p.add_argument("--dtype", default="auto")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: as is)")
    p.add_argument("--cache-bytes", type=int, default=None, help="prefix cache bound (auto)")
    p.add_argument("--offload", action="store_true", help="keep cached prefixes in host memory")
    p.add_argument("--out", help="write OUT.json, OUT.md and OUT.png")
    args = p.parse_args(argv)
    doc = run(args)
    if args.out:
        import sys

        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        command = "python -m vlmctx_eval.bench.prefix_reuse " + " ".join(sys.argv[1:])
        doc["command"] = command
        out.with_suffix(".json").write_text(json.dumps(doc, indent=1) + "\n")
        out.with_suffix(".md").write_text(markdown(doc, command))
        plot(doc, out.with_suffix(".png"))


if __name__ == "__main__":
    main()
