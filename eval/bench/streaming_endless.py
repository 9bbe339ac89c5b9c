"""Endless streams: device and host memory, ask latency and a streaming needle over hours of a
1 fps stream, with the three-tier memory (device -> host key/values -> compact tier; issue 27).

**Setup.** The shipped ``toylab`` checkpoint (a real Qwen2-VL, 4 layers) on CPU, fp32, one
thread. The stream is generated on the fly (never stored): a toy-lab needle scene
(``streaming_needle.needle_scene``: ball, bob, noise, a green distractor in half the streams)
rendered at 128x96, 1 fps, pushed 16 frames per chunk (18 cached tokens; the trained clip
length, see docs/streaming.md), with one needle frame (a whole-frame card of another colour) a
few seconds in. Sessions: *tiered* (device budget ``budget`` tokens, ``retrieve_tokens`` of it
for up to ``top_k`` retrieved blocks, host budget ``host_budget`` bytes split evenly between the
host key/value tier and the compact tier) and *window* (the same device budget, all of it recent
window, nothing retrieved: the paired baseline).

**Memory run.** One tiered session takes ``hours`` of stream; every ``sample_min`` minutes of
stream we record the device key/value bytes (the session's cache; on CPU there is no separate
device allocator), the host bytes per tier (the session's counters) and the process RSS; at each
hour mark the same question is asked ``asks`` times (ask p50 and the retrieval step: probe,
scoring every entry of the host and compact tiers, fetching or re-encoding the chosen blocks),
with its wall time and the CPU time of the asking thread (torch runs one thread, so this is the
ask's compute; on a shared machine wall times mostly measure the other load).

**Needle.** ``needle_trials`` further streams, each asked "What colour is the odd frame?" once
the needle is ``needle_hours`` back, in the tiered and the window session fed the same chunks;
accuracy with Wilson 95% intervals and McNemar on the paired answers (``vlmctx_eval.harness.stats``).

    python -m vlmctx_eval.bench.streaming_endless                 # the committed run
    python -m vlmctx_eval.bench.streaming_endless --hours 10 --needle-trials 40   # the full goal
    python -m vlmctx_eval.bench.streaming_endless --quick         # minutes, nothing written
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from vlmctx_eval.harness.stats import mcnemar, wilson_interval

RESULTS = Path(__file__).parent / "results"
NEEDLE_Q = "What colour is the odd frame?"
BALL_Q = "What colour is the ball?"
CHUNK = 16


def stream(seed: int, seconds: int) -> tuple[Iterator[Any], int, str]:
    """A needle stream of ``seconds`` at 1 fps, rendered chunk by chunk as it is consumed:
    (chunks, needle second, needle colour)."""
    from vlmctx_eval.experiments.streaming_needle import chunks, needle_scene

    rng = np.random.default_rng((seed, 27))
    at = int(rng.integers(8, 40))
    scene, colour = needle_scene(rng, seconds, at)
    return chunks(scene, CHUNK), at, colour


def rss() -> int:
    import psutil

    return int(psutil.Process(os.getpid()).memory_info().rss)


def sample(s: Any, minute: float, push_s: float) -> dict[str, Any]:
    st = s.stats()
    keys = ("device_kv_bytes", "device_tokens", "host_bytes", "host_kv_bytes", "compact_bytes",
            "kept_bytes", "host_kv_blocks", "compact_blocks", "compact_merges")  # fmt: skip
    return {"minute": minute, **{k: st[k] for k in keys}, "rss_bytes": rss(),
            "push_s_total": round(push_s, 2)}  # fmt: skip


def ask_point(s: Any, hour: float, asks: int, at: int, colour: str) -> dict[str, Any]:
    """``asks`` timed asks of the ball question, then the needle question once."""
    times, cpu, retrieve = [], [], []
    for _ in range(asks):
        t0, c0 = time.perf_counter(), time.thread_time()
        a = s.ask(BALL_Q, max_new_tokens=4)
        times.append(time.perf_counter() - t0)
        cpu.append(time.thread_time() - c0)  # one torch thread: the ask's compute, not the wait
        retrieve.append(a.timings["retrieve"])
    n = s.ask(NEEDLE_Q, max_new_tokens=8)
    st = s.stats()
    return {
        "hour": hour, "ask_s_median": round(statistics.median(times), 4),
        "ask_s_min": round(min(times), 4), "retrieve_s_median": round(statistics.median(retrieve), 4),
        "ask_s_all": [round(t, 4) for t in times],
        "ask_cpu_s_median": round(statistics.median(cpu), 4), "ask_cpu_s_min": round(min(cpu), 4),
        "entries_scored": st["host_kv_blocks"] + st["compact_blocks"],
        "retrieved_tiers": [r.tier for r in a.retrieved],
        "needle": {"answer": colour, "prediction": n.text, "correct": _correct(n.text, colour),
                   "retrieved": any(at in {i for i, _ in r.frames} for r in n.retrieved)},
    }  # fmt: skip


def _correct(prediction: str, answer: str) -> bool:
    return prediction.strip().lower().rstrip(".") == answer.lower()


def memory_run(lm: Any, args: argparse.Namespace) -> dict[str, Any]:
    seconds = int(args.hours * 3600)
    chunks, at, colour = stream(0, seconds + CHUNK)
    samples, asks = [], []
    every = int(args.sample_min * 60)
    hour_marks = [h for h in args.ask_hours if h <= args.hours]
    push_s, t_start = 0.0, time.perf_counter()
    with lm.session(**tiered(args)) as s:
        next_sample, pending = every, sorted(hour_marks)
        for chunk in chunks:
            t0 = time.perf_counter()
            s.push(chunk)
            push_s += time.perf_counter() - t0
            now = float(chunk.pts_s[-1]) + 1  # seconds of stream pushed
            if now >= next_sample:
                samples.append(sample(s, round(now / 60, 2), push_s))
                next_sample += every
                print(json.dumps({k: samples[-1][k] for k in ("minute", "device_kv_bytes",
                      "host_bytes", "rss_bytes", "compact_blocks")}), flush=True)  # fmt: skip
            while pending and now >= pending[0] * 3600:
                asks.append(ask_point(s, pending.pop(0), args.asks, at, colour))
                print(json.dumps({k: asks[-1][k] for k in ("hour", "ask_s_median",
                      "retrieve_s_median", "entries_scored", "needle")}), flush=True)  # fmt: skip
            if now >= seconds:
                break
        final = s.stats()
    return {"samples": samples, "asks": asks, "wall_s": round(time.perf_counter() - t_start, 1),
            "push_s": round(push_s, 1), "final": final, "needle_at_s": at}  # fmt: skip


def real_width(model: str, chunks: int = 6, size: int = 448) -> dict[str, Any]:
    """Bytes per tier at real widths: a shape-true model (the card's widths, one language layer;
    ``vlmctx.models.tiny``) takes ``chunks`` 2-frame chunks of ``size``x``size`` noise with a
    host budget that sends the oldest to the compact tier; its per-block bytes are compared with
    the stream plan of the same card (key/values scaled by the card's layer count)."""
    import torch

    from vlmctx.engine import VideoLM
    from vlmctx.models.tiny import shape_card
    from vlmctx.planner import Planner
    from vlmctx.planner.stream import plan_stream
    from vlmctx.streaming.sources import live_info
    from vlmctx.video.types import Frames

    card = shape_card(model)
    lm = VideoLM.load(model, device="cpu", dtype="bfloat16")
    info = live_info("synthetic", size, size, 1.0, "raw")
    rng = np.random.default_rng(0)
    with lm.session(900, retrieve_tokens=300, host_budget=8 * 2**20) as s:
        blocks = []
        for k in range(chunks):
            idx = np.arange(2 * k, 2 * k + 2)
            data = rng.integers(0, 255, (2, size, size, 3), dtype=np.uint8)
            blocks.append(s.push(Frames(data, idx, idx.astype(np.float64), "synthetic", info, 1.0)))
        st = s.stats()
        kept = s.store.resident[-1]  # the newest block: its frames are kept whatever merged
        kept_bytes, kept_shape = kept.compact_bytes(), list(kept.frames.data.shape)
        text = lm.loaded.model.config.get_text_config()
        a = s.ask("What is shown?", max_new_tokens=2)
    layers_here = int(text.num_hidden_layers)
    plan = plan_stream(Planner(card.hub_id), f"{size}x{size}@1h", 1.0, host_budgets=[2**30],
                       chunk_frames=2, max_pixels=None)  # fmt: skip
    per_token_card = s.token_bytes // layers_here * plan_layers(card)
    return {
        "model": model, "card": card.hub_id, "layers_here": layers_here,
        "layers_card": plan_layers(card), "token_bytes_here": s.token_bytes,
        "token_bytes_scaled_to_card": per_token_card, "plan_kv_per_token": plan.kv_per_token,
        "block_tokens": [b.n for b in blocks], "plan_tokens_per_frame": plan.tokens_per_frame,
        "compact_bytes_per_block": kept_bytes, "kept_frame_shape": kept_shape,
        "plan_input_size": list(plan.input_size), "stats": st,
        "retrieved_tiers": [r.tier for r in a.retrieved], "dtype": str(torch.bfloat16),
    }  # fmt: skip


def plan_layers(card: Any) -> int:
    return int(card.hf_config().get_text_config().num_hidden_layers)


def tiered(args: argparse.Namespace) -> dict[str, Any]:
    return {"budget": args.budget, "retrieve_tokens": args.retrieve_tokens, "top_k": args.top_k,
            "host_budget": args.host_budget, "chunk_context": args.chunk_context}  # fmt: skip


def needle_trial(lm: Any, args: argparse.Namespace, trial: int) -> list[dict[str, Any]]:
    """One stream into the tiered and the window session; the needle question once it is each
    of ``needle_hours`` back."""
    hours = args.needle_hours if is_long(trial, args) else args.needle_hours[:1]
    at_most = int(max(hours) * 3600) + 60
    chunks, at, colour = stream(1000 + trial, at_most)
    pending = sorted(hours)
    sessions = {
        "tiered": lm.session(**tiered(args)),
        "window": lm.session(args.budget, retrieve_tokens=0, top_k=0, host_budget=args.host_budget),
    }
    rows = []
    try:
        for chunk in chunks:
            for s in sessions.values():
                s.push(chunk)
            now = float(chunk.pts_s[-1])
            while pending and now - at >= pending[0] * 3600:
                h = pending.pop(0)
                for mode, s in sessions.items():
                    a = s.ask(NEEDLE_Q, max_new_tokens=8)
                    got = [r for r in a.retrieved if at in {i for i, _ in r.frames}]
                    rows.append({"trial": trial, "hours_back": h, "mode": mode, "answer": colour,
                                 "prediction": a.text, "correct": _correct(a.text, colour),
                                 "needle_retrieved": bool(got),
                                 "needle_tier": got[0].tier if got else None})  # fmt: skip
            if not pending or now >= at_most:
                break
    finally:
        for s in sessions.values():
            s.close()
    return rows


def is_long(trial: int, args: argparse.Namespace) -> bool:
    """Whether ``trial`` goes on to the last of ``needle_hours``: ``long_trials`` of them, spread
    over the trials (pairs 0-1, 8-9, 16-17, ...) so that every shard and every stretch of an
    interrupted run has some."""
    return (trial // 2) % 4 == 0 and (trial // 8) * 2 + trial % 2 < args.long_trials


def needle_summary(rows: list[dict[str, Any]], hours: list[float]) -> list[dict[str, Any]]:
    out = []
    for h in hours:
        by = {m: {r["trial"]: r for r in rows if r["hours_back"] == h and r["mode"] == m}
              for m in ("tiered", "window")}  # fmt: skip
        trials = sorted(set(by["tiered"]) & set(by["window"]))
        if not trials:
            continue
        row: dict[str, Any] = {"hours_back": h, "n": len(trials)}
        for m in ("tiered", "window"):
            k = sum(by[m][t]["correct"] for t in trials)
            lo, hi = wilson_interval(k, len(trials))
            row[m] = {"correct": k, "acc": k / len(trials), "wilson95": [lo, hi]}
        row["needle_retrieved"] = sum(by["tiered"][t]["needle_retrieved"] for t in trials)
        b = sum(by["tiered"][t]["correct"] and not by["window"][t]["correct"] for t in trials)
        c = sum(by["window"][t]["correct"] and not by["tiered"][t]["correct"] for t in trials)
        row["mcnemar"] = {"tiered_only": b, "window_only": c, "p": mcnemar(b, c).p_value}
        out.append(row)
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hours", type=float, default=10.0)
    p.add_argument("--sample-min", type=float, default=10.0)
    p.add_argument("--ask-hours", type=lambda t: [float(x) for x in t.split(",")],
                   default=[1, 2, 3, 4, 5, 6, 7, 8, 9, 10])  # fmt: skip
    p.add_argument("--asks", type=int, default=5)
    p.add_argument("--budget", type=int, default=78)
    p.add_argument("--retrieve-tokens", type=int, default=36)
    p.add_argument("--top-k", type=int, default=2)
    p.add_argument("--host-budget", default="4MiB")
    p.add_argument("--needle-trials", type=int, default=40)
    p.add_argument(
        "--needle-hours", type=lambda t: [float(x) for x in t.split(",")], default=[1, 5]
    )
    p.add_argument(
        "--long-trials",
        type=int,
        default=16,
        help="trials that go on to the last of --needle-hours (the rest stop at the first)",
    )
    p.add_argument(
        "--chunk-context",
        choices=("window", "sinks"),
        default="sinks",
        help="what a chunk is encoded over (sinks: exact re-encoding from the compact tier)",
    )
    p.add_argument("--skip-memory", action="store_true")
    p.add_argument("--skip-needle", action="store_true")
    p.add_argument(
        "--real-width",
        metavar="MODEL",
        help="also measure bytes per tier on a shape-true model, e.g. "
        "shape-Qwen2-VL-7B-Instruct (real widths, one language layer)",
    )
    p.add_argument("--shard", default="0/1", help="i/n: run the needle trials t with t %% n == i")
    p.add_argument(
        "--combine",
        nargs="+",
        metavar="JSON",
        help="merge shard results (one with the memory run) into --out; runs nothing",
    )
    p.add_argument("--quick", action="store_true", help="20 minutes, 2 trials; nothing written")
    p.add_argument("--out", default=str(RESULTS / "streaming_endless"))
    args = p.parse_args(argv)
    if args.combine:
        return write(combine([json.loads(Path(f).read_text()) for f in args.combine]), args.out)
    if args.quick:
        args.hours, args.sample_min, args.ask_hours = 20 / 60, 5, [10 / 60, 20 / 60]
        args.needle_trials, args.needle_hours, args.long_trials = 2, [5 / 60, 10 / 60], 1
    res = run(args)
    from vlmctx_eval.bench.streaming_endless_report import markdown

    if not args.quick:
        write(res, args.out)
    print(markdown(res))


def write(res: dict[str, Any], out_stem: str) -> None:
    from vlmctx_eval.bench.streaming_endless_report import markdown, plot

    out = Path(out_stem)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(res, indent=1) + "\n")
    out.with_suffix(".md").write_text(markdown(res))
    if "memory" in res:
        plot(res, out.with_suffix(".png"))


def combine(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One result from shards: the memory run of the part that has one, every needle row."""
    res = dict(next((p for p in parts if "memory" in p), parts[0]))
    rows = sorted((r for p in parts for r in p["needle_rows"]),
                  key=lambda r: (r["trial"], r["hours_back"], r["mode"]))  # fmt: skip
    res["needle_rows"] = rows
    res["needle"] = needle_summary(rows, res["needle_hours"])
    res["needle_trials"] = len({r["trial"] for r in rows})
    res["needle_wall_s"] = max(p.get("needle_wall_s", 0) for p in parts)
    res["shards"] = [p.get("shard", "0/1") for p in parts]
    res["commands"] = [
        "python -m vlmctx_eval.bench.streaming_endless " + " ".join(argv_of(p)) for p in parts
    ]
    for p in parts:
        if "real_width" in p:
            res["real_width"] = p["real_width"]
    res["load_average"] = max((p["load_average"] for p in parts if "load_average" in p), default=[])
    return res


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from vlmctx.engine import VideoLM

    torch.set_num_threads(1)
    lm = VideoLM.load("toylab", device="cpu", dtype="float32")
    res: dict[str, Any] = {
        "model": "toylab", "device": "cpu", "dtype": "float32", "threads": 1, "fps": 1.0,
        "chunk_frames": CHUNK, "render": [128, 96], **{k: v for k, v in vars(args).items()
                                                        if k not in ("quick", "out")},
        "command": "python -m vlmctx_eval.bench.streaming_endless " + " ".join(argv_of(args)),
        "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }  # fmt: skip
    if args.real_width:
        res["real_width"] = real_width(args.real_width)
    if not args.skip_memory:
        res["memory"] = memory_run(lm, args)
    t0 = time.perf_counter()
    rows: list[dict[str, Any]] = []
    i, n = (int(x) for x in args.shard.split("/"))
    for trial in range(0 if args.skip_needle else args.needle_trials):
        if trial % n != i:
            continue
        rows += needle_trial(lm, args, trial)
        print(json.dumps(rows[-2:]), flush=True)
        res.update(
            needle_rows=rows,
            needle=needle_summary(rows, args.needle_hours),
            needle_wall_s=round(time.perf_counter() - t0, 1),
            load_average=os.getloadavg(),
        )
        if not args.quick:  # a partial shard survives an interrupted run
            Path(args.out).with_suffix(".json").write_text(json.dumps(res, indent=1) + "\n")
    res.update(
        needle_rows=rows,
        needle=needle_summary(rows, args.needle_hours),
        needle_wall_s=round(time.perf_counter() - t0, 1),
        load_average=os.getloadavg(),
    )
    return res


def argv_of(args: argparse.Namespace | dict[str, Any]) -> list[str]:
    a = vars(args) if isinstance(args, argparse.Namespace) else args
    out = [f"--hours {a['hours']:g}", f"--needle-trials {a['needle_trials']}",
           f"--long-trials {a['long_trials']}", f"--chunk-context {a['chunk_context']}",
           f"--needle-hours {','.join(f'{h:g}' for h in a['needle_hours'])}",
           f"--host-budget {a['host_budget']}"]  # fmt: skip
    out += [flag for key, flag in (("skip_memory", "--skip-memory"), ("skip_needle", "--skip-needle"))
            if a.get(key)]  # fmt: skip
    if a.get("shard", "0/1") != "0/1":
        out.append(f"--shard {a['shard']}")
    if a.get("real_width"):
        out.append(f"--real-width {a['real_width']}")
    return out


if __name__ == "__main__":
    main()
