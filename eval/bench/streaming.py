"""Streaming sessions: device key/value memory and per-question latency vs stream length,
a bounded session and full context, one after the other in one run on one loaded model.

**Setup.** The shipped ``toylab`` checkpoint (a real Qwen2-VL, 4 layers) on CPU, fp32. The stream
is a toy-lab scene rendered at 64x48 and sampled at 1 fps, pushed 2 frames per chunk (one
temporal patch; 4 cached tokens per chunk with toylab's processor). Two sessions take the same
chunks, one session at a time (a full-context session held beside the bounded one slowed the
bounded asks as it grew, which read as their growth): *bounded* (``budget`` tokens, ``retrieve_tokens`` of it for retrieved blocks, top-4) and
*full* (no budget: nothing is evicted, the session is the full-context model — tested exact in
tests/streaming/test_exact.py). At 1, 10 and 60 minutes of stream each answers the same question
``--asks`` times; we report the device key/value bytes held (``session.stats()``), the tokens the
question attended to, the offloaded bytes (CPU memory, which grows with the stream by design) and
the median and the minimum wall time of ``ask`` (probe + retrieval + prefill + greedy decode of up
to 4 tokens; the minimum is the least disturbed by other load) and the median time of its
retrieval step (the probe over the device cache, scoring every offloaded block, fetching the
chosen ones).

**Goal** (issue 18): bounded memory and latency flat within 10% from 10 to 60 minutes while full
context grows linearly. Wall times come from a shared 2-core machine: compare the two columns of
one run, not runs with each other.

    python -m vlmctx_eval.bench.streaming            # 1/10/60 minutes
    python -m vlmctx_eval.bench.streaming --quick    # 1/2/4 minutes, a smoke test
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).parent / "results"
QUESTION = "What colour is the ball?"


def stream_chunks(minutes: float, chunk: int = 2) -> list[Any]:
    """A toy-lab scene of ``minutes`` at 1 fps as Frames chunks with true timestamps."""
    from vlmctx.streaming.sources import live_info
    from vlmctx.video.synthetic.toy_scenes import Event, Scene, render
    from vlmctx.video.types import Frames

    n = int(minutes * 60)
    scene = Scene(
        frames=n,
        fps=1.0,
        ball="blue",
        events=(Event("square", "yellow", n // 3, n // 3 + 1, "card"),),
    )
    info = live_info("synthetic", 64, 48, 1.0, "raw")
    out = []
    for a in range(0, n, chunk):
        idx = np.arange(a, min(a + chunk, n))
        data = np.stack([render(scene, int(i), 64, 48) for i in idx])  # (t, 48, 64, 3)
        out.append(Frames(data, idx, idx.astype(np.float64), "synthetic", info, 1.0))
    return out


def measure(session: Any, asks: int) -> dict[str, Any]:
    """Memory held and the median ask time of one session now."""
    times, retrieve, answer = [], [], None
    for _ in range(asks):
        t0 = time.perf_counter()
        answer = session.ask(QUESTION, max_new_tokens=4)
        times.append(time.perf_counter() - t0)
        retrieve.append(answer.timings["retrieve"])  # probe + scoring + fetching blocks
    st = session.stats()
    assert answer is not None
    return {
        "device_kv_bytes": st["device_kv_bytes"],
        "device_tokens": st["device_tokens"],
        "offloaded_bytes": st["offloaded_bytes"],
        "offloaded_blocks": st["offloaded_blocks"],
        "context_tokens": answer.context_tokens,
        "ask_s_median": round(statistics.median(times), 4),
        "ask_s_min": round(min(times), 4),  # the least disturbed by other load
        "retrieve_s_median": round(statistics.median(retrieve), 4),
        "ask_s_all": [round(t, 4) for t in times],
        "answer": answer.text,
        "retrieved_s": [t for r in answer.retrieved for _, t in r.frames],
    }


def run(minutes: list[float], budget: int, retrieve: int, asks: int) -> dict[str, Any]:
    import torch

    from vlmctx.engine import VideoLM

    torch.set_num_threads(1)
    lm = VideoLM.load("toylab", device="cpu", dtype="float32")
    chunks = stream_chunks(max(minutes))
    marks = {int(m * 60) // 2: m for m in minutes}  # chunk count -> minutes
    rows: list[dict[str, Any]] = []
    push_s = {"bounded": 0.0, "full": 0.0}
    # one session at a time: a full-context session held beside the bounded one (14 MiB of KV and
    # its objects at 60 min) slowed the bounded session's asks and read as their growth
    for name in ("bounded", "full"):
        with (
            lm.session(budget, retrieve_tokens=retrieve) if name == "bounded" else lm.session() as s
        ):
            for k, chunk in enumerate(chunks, 1):
                t0 = time.perf_counter()
                s.push(chunk)
                push_s[name] += time.perf_counter() - t0
                if k in marks:
                    rows.append(
                        {"minutes": marks[k], "frames": 2 * k, "session": name, **measure(s, asks)}
                    )
                    print(
                        json.dumps(
                            {
                                r: rows[-1][r]
                                for r in ("minutes", "session", "device_kv_bytes", "ask_s_median")
                            }
                        ),
                        flush=True,
                    )
            if name == "bounded":
                token_bytes = s.token_bytes
    rows.sort(key=lambda r: (r["minutes"], r["session"] != "bounded"))
    return {
        "model": "toylab",
        "device": "cpu",
        "dtype": "float32",
        "threads": 1,
        "frame_size": [48, 64],
        "fps": 1.0,
        "chunk_frames": 2,
        "budget_tokens": budget,
        "retrieve_tokens": retrieve,
        "top_k": 4,
        "asks_per_point": asks,
        "token_bytes": token_bytes,
        "push_s_total": {k: round(v, 2) for k, v in push_s.items()},
        "rows": rows,
        "command": "python -m vlmctx_eval.bench.streaming",
    }


def flatness(rows: list[dict[str, Any]], session: str, key: str) -> float | None:
    """Relative change of ``key`` from 10 to 60 minutes (None if those points were not run)."""
    at = {r["minutes"]: r[key] for r in rows if r["session"] == session}
    if 10 not in at or 60 not in at:
        return None
    return (at[60] - at[10]) / at[10]


def markdown(res: dict[str, Any]) -> str:
    lines = [
        "# Streaming session vs full context: memory and latency vs stream length",
        "",
        f"`{res['command']}` — toylab (Qwen2-VL, 4 layers) on CPU, fp32, 1 thread; 1 fps, "
        f"{res['chunk_frames']} frames per chunk; bounded: budget {res['budget_tokens']} tokens "
        f"({res['retrieve_tokens']} for retrieval, top-{res['top_k']}); full: no budget. "
        f"Ask time: median and min of {res['asks_per_point']} asks. One token of KV = {res['token_bytes']} B.",
        "",
        "| minutes | frames | session | device KV (KiB) | context tokens | offloaded (KiB) "
        "| ask median (ms) | ask min (ms) | of which retrieval, median (ms) |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in res["rows"]:
        lines.append(
            f"| {r['minutes']:g} | {r['frames']} | {r['session']} | {r['device_kv_bytes'] / 1024:.1f} "
            f"| {r['context_tokens']} | {r['offloaded_bytes'] / 1024:.1f} | {1000 * r['ask_s_median']:.1f} "
            f"| {1000 * r['ask_s_min']:.1f} | {1000 * r['retrieve_s_median']:.1f} |"
        )
    lines.append("")
    for s in ("bounded", "full"):
        mem, lat, low = (
            flatness(res["rows"], s, "device_kv_bytes"),
            flatness(res["rows"], s, "ask_s_median"),
            flatness(res["rows"], s, "ask_s_min"),
        )
        if mem is not None and lat is not None and low is not None:
            lines.append(
                f"- {s}, 10 -> 60 minutes: device KV {mem:+.1%}, ask time median "
                f"{lat:+.1%}, min {low:+.1%}"
            )
    lines += [
        "",
        "Wall times are from a shared 2-core machine; compare the columns of this run.",
        "",
    ]
    return "\n".join(lines)


def plot(res: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    for s, style in (("bounded", "o-"), ("full", "s--")):
        rows = [r for r in res["rows"] if r["session"] == s]
        x = [r["minutes"] for r in rows]
        a.plot(x, [r["device_kv_bytes"] / 1024 for r in rows], style, label=s)
        b.plot(x, [1000 * r["ask_s_median"] for r in rows], style, label=s)
    a.set(
        xlabel="stream length (minutes, 1 fps)",
        ylabel="device KV (KiB)",
        xscale="log",
        yscale="log",
    )
    b.set(xlabel="stream length (minutes, 1 fps)", ylabel="ask latency (ms, median)", xscale="log")
    for ax in (a, b):
        ax.legend()
        ax.grid(alpha=0.3)
    fig.suptitle("toylab streaming session: bounded budget vs full context")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="1/2/4 minutes; results not written")
    p.add_argument("--budget", type=int, default=256)
    p.add_argument("--retrieve-tokens", type=int, default=64)
    p.add_argument("--asks", type=int, default=9)
    args = p.parse_args(argv)
    minutes = [1, 2, 4] if args.quick else [1, 10, 60]
    res = run(minutes, args.budget, args.retrieve_tokens, args.asks)
    print(markdown(res))
    if not args.quick:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "streaming.json").write_text(json.dumps(res, indent=1) + "\n")
        (RESULTS / "streaming.md").write_text(markdown(res))
        plot(res, RESULTS / "streaming.png")


if __name__ == "__main__":
    main()
