"""Streaming visual needle: a needle frame at a known time in a stream, the question asked
later, answered by full context, a recent-window-only cache and retrieval (issue 18, part 5).

**Model and world.** The shipped ``toylab`` checkpoint (a 1M-parameter Qwen2-VL trained here on
<= 16-frame toy-lab clips; docs/toylab.md) on CPU. Streams are toy-lab scenes
(:mod:`vlmctx.video.synthetic.toy_scenes`) at 1 fps, rendered at the task's 128x96 and pushed
``chunk_frames`` at a time with their true timestamps. The needle is the toy lab's ``needle``
kind: one frame that is a whole-frame card of a colour other than the ball's; the question is
"What colour is the odd frame?". Ball colour, direction, bob, noise and the green distractor
square (half the streams) are drawn as ``toy_scenes.make_item`` draws them.

**Chunks of 16 frames.** Each pushed chunk is its own video piece of the prompt (its own
``<|vision_start|>...<|vision_end|>``). The toy model was trained on one clip of <= 16 frames per
prompt; with 2- or 4-frame chunks it misses a needle a few seconds back even in full context
(``--chunk-ablation``: eval/bench/results/streaming_needle_chunks.md), so chunks here are the
trained clip length: 18 cached tokens each (16 visual + 2 markup).

**Trials.** Each trial is one stream: the needle at a random second in ``[lead_min, lead_max)``,
then the stream goes on; the question is asked right after the first chunk whose last frame is
at least ``d`` seconds after the needle, for every distance ``d`` (questions leave no trace in a
session, so one stream serves all distances). Three sessions take the same chunks:

- ``full``: no budget, nothing evicted (the full-context model; exact, tests/streaming). It fits
  at every distance run here (a few hundred tokens on CPU), so it is run at all of them;
- ``window``: ``budget`` tokens, all of it recent window (``retrieve_tokens=0``, ``top_k=0``);
- ``retrieval``: the same ``budget``, of which ``retrieve_tokens`` are kept for up to ``top_k``
  blocks brought back per question (ReKV's recipe, arXiv 2503.00540; vlmctx's proxy score).

Equal device memory for ``window`` and ``retrieval``: the window-only cache holds more recent
frames, retrieval a shorter window plus what it brings back. Answers are greedy, scored as the
toy-lab task scores them (exact match, lower case, trailing dot dropped).

**Toy-lab questions mid-stream.** Toy-lab items (``make_item``; ball, needle, count, order, when)
of ``toylab_frames`` frames are streamed the same way and asked at their last frame, in the three
modes, plus the one-shot model on the same frames (``VideoLM.ask``) as the reference.

**Statistics.** Accuracy with Wilson 95% intervals per distance and mode; paired McNemar tests
(:mod:`vlmctx_eval.harness.stats`) between modes on the same questions, per distance (trials are
independent; questions of one trial at different distances share a stream, so no test pools
distances).

    python -m vlmctx_eval.experiments.streaming_needle            # the committed run (eval/bench/results)
    python -m vlmctx_eval.experiments.streaming_needle --quick    # a few questions, nothing written
    python -m vlmctx_eval.experiments.streaming_needle --chunk-ablation   # frames per chunk, full context
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vlmctx_eval.harness.stats import mcnemar, wilson_interval

RESULTS = Path(__file__).resolve().parents[1] / "bench" / "results"
QUESTION = "What colour is the odd frame?"
MODES = ("full", "window", "retrieval")
RENDER = (128, 96)  # the toy-lab task's clips (the processor shrinks them to 32x16)


@dataclass(frozen=True)
class Setup:
    """What one run measures (written into the results)."""

    trials: int = 40
    distances_s: tuple[int, ...] = (8, 40, 90, 180, 300)
    lead_s: tuple[int, int] = (8, 40)
    chunk_frames: int = 16  # a trained clip per chunk (see the module docstring)
    budget: int = 78
    retrieve_tokens: int = 36
    top_k: int = 2
    toylab_frames: int = 64
    toylab_per_kind: int = 12
    toylab_kinds: tuple[str, ...] = ("ball", "needle", "count", "order", "when")
    max_new_tokens: int = 8
    seed: int = 0


QUICK = Setup(
    trials=2,
    distances_s=(4, 40),
    lead_s=(4, 8),
    toylab_frames=32,
    toylab_per_kind=1,
    toylab_kinds=("ball", "needle"),
)


def correct(prediction: str, answer: str) -> bool:
    """The toy-lab task's scoring: exact match of the lower-cased answer, trailing dot dropped."""
    return prediction.strip().lower().rstrip(".") == answer.lower()


def needle_scene(rng: np.random.Generator, frames: int, at: int) -> tuple[Any, str]:
    """A toy-lab needle scene of ``frames`` frames with the needle card at frame ``at``, drawn as
    ``make_item("needle", ...)`` draws one except for where the needle is; (scene, answer)."""
    from vlmctx.video.synthetic.toy_scenes import COLOURS, Event, Scene

    colours = list(COLOURS)
    ball = colours[int(rng.integers(len(colours)))]
    others = [c for c in colours if c != ball]
    colour = others[int(rng.integers(len(others)))]
    events: tuple[Any, ...] = (Event("square", colour, at, at + 1, "card"),)
    if rng.random() < 0.5:  # the green square of `when`, a distractor, as make_item adds it
        events += (Event("square", "green", int(rng.integers(1, frames)), None, "corner"),)
    scene = Scene(
        frames=frames,
        fps=1.0,
        ball=ball,
        direction=1 if rng.random() < 0.5 else -1,
        phase=float(rng.uniform(0, 2 * np.pi)),
        noise=float(rng.uniform(0, 0.04)),
        seed=int(rng.integers(2**31)),
        events=events,
    )
    return scene, colour


def chunks(scene: Any, chunk_frames: int) -> Iterator[Any]:
    """The scene at 1 fps as Frames chunks (uint8 (t, 96, 128, 3), true timestamps)."""
    from vlmctx.streaming.sources import live_info
    from vlmctx.video.synthetic.toy_scenes import render
    from vlmctx.video.types import Frames

    info = live_info("synthetic", *RENDER, 1.0, "raw")
    for a in range(0, scene.frames, chunk_frames):
        idx = np.arange(a, min(a + chunk_frames, scene.frames))
        data = np.stack([render(scene, int(i), *RENDER) for i in idx])  # (t, 96, 128, 3)
        yield Frames(data, idx, idx.astype(np.float64), "synthetic", info, 1.0)


def open_sessions(lm: Any, setup: Setup) -> dict[str, Any]:
    """The three modes' sessions on one model, same device budget for window and retrieval."""
    return {
        "full": lm.session(),
        "window": lm.session(setup.budget, retrieve_tokens=0, top_k=0),
        "retrieval": lm.session(
            setup.budget, retrieve_tokens=setup.retrieve_tokens, top_k=setup.top_k
        ),
    }


def ask_all(sessions: dict[str, Any], question: str, setup: Setup) -> dict[str, Any]:
    return {m: s.ask(question, max_new_tokens=setup.max_new_tokens) for m, s in sessions.items()}


def needle_trial(lm: Any, setup: Setup, trial: int) -> list[dict[str, Any]]:
    """One stream, one needle, the question at every distance in every mode: one row each."""
    rng = np.random.default_rng((setup.seed, 18, trial))
    at = int(rng.integers(*setup.lead_s))
    length = at + max(setup.distances_s) + setup.chunk_frames
    scene, answer = needle_scene(rng, length, at)
    pending = sorted(setup.distances_s)
    rows: list[dict[str, Any]] = []
    sessions = open_sessions(lm, setup)
    try:
        for chunk in chunks(scene, setup.chunk_frames):
            for s in sessions.values():
                s.push(chunk)
            now = float(chunk.pts_s[-1])
            while pending and now - at >= pending[0]:
                d = pending.pop(0)
                for mode, a in ask_all(sessions, QUESTION, setup).items():
                    recent = {i for i, _ in a.recent}
                    fetched = {i for r in a.retrieved for i, _ in r.frames}
                    rows.append(
                        {
                            "trial": trial,
                            "distance_s": d,
                            "asked_after_s": now - at,
                            "mode": mode,
                            "answer": answer,
                            "prediction": a.text,
                            "correct": correct(a.text, answer),
                            "needle_in_window": at in recent,
                            "needle_retrieved": at in fetched,
                            "context_tokens": a.context_tokens,
                            "recent_frames": len(recent),
                            "retrieved_s": sorted(t for r in a.retrieved for _, t in r.frames),
                        }
                    )
            if not pending:
                break
    finally:
        for s in sessions.values():
            s.close()
    return rows


def toylab_item(lm: Any, setup: Setup, kind: str, j: int) -> list[dict[str, Any]]:
    """One toy-lab item streamed and asked at its last frame in every mode, and one-shot."""
    from vlmctx.video.synthetic.toy_scenes import TASKS, make_item
    from vlmctx.video.types import Frames

    rng = np.random.default_rng((setup.seed, setup.toylab_frames, TASKS.index(kind), j))
    scene, question, answer = make_item(kind, setup.toylab_frames, rng)
    sessions = open_sessions(lm, setup)
    parts = []
    try:
        for chunk in chunks(scene, setup.chunk_frames):
            parts.append(chunk)
            for s in sessions.values():
                s.push(chunk)
        preds = {m: a.text for m, a in ask_all(sessions, question, setup).items()}
    finally:
        for s in sessions.values():
            s.close()
    whole = Frames(
        np.concatenate([p.data for p in parts]),
        np.concatenate([p.indices for p in parts]),
        np.concatenate([p.pts_s for p in parts]),
        "synthetic",
        parts[0].info,
        1.0,
    )
    preds["one-shot"] = lm.ask(whole, question, max_new_tokens=setup.max_new_tokens).text
    return [
        {
            "item": f"{kind}-{j}",
            "kind": kind,
            "mode": m,
            "answer": answer,
            "prediction": p,
            "correct": correct(p, answer),
        }
        for m, p in preds.items()
    ]


def accuracy(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Accuracy of ``rows`` with its Wilson 95% interval."""
    n, k = len(rows), sum(r["correct"] for r in rows)
    lo, hi = wilson_interval(k, n)
    return {"n": n, "correct": k, "acc": k / n if n else None, "ci95": [lo, hi]}


def paired(rows: list[dict[str, Any]], key: str, a: str, b: str) -> dict[str, Any]:
    """McNemar between modes ``a`` and ``b`` on the questions both answered (paired by ``key``)."""
    ra = {r[key]: r["correct"] for r in rows if r["mode"] == a}
    rb = {r[key]: r["correct"] for r in rows if r["mode"] == b}
    shared = sorted(set(ra) & set(rb))
    only_a = sum(ra[i] and not rb[i] for i in shared)
    only_b = sum(rb[i] and not ra[i] for i in shared)
    t = mcnemar(only_a, only_b)
    return {
        "a": a,
        "b": b,
        "n": len(shared),
        "a_only": only_a,
        "b_only": only_b,
        "method": t.method,
        "p": t.p_value,
    }


def analyse(needle: list[dict[str, Any]], toylab: list[dict[str, Any]]) -> dict[str, Any]:
    """Per distance and mode: accuracy (Wilson), needle-in-context rates, McNemar pairs; per
    toy-lab kind and mode: accuracy (Wilson)."""
    pairs = (("window", "retrieval"), ("full", "retrieval"), ("full", "window"))
    by_distance = {}
    for d in sorted({r["distance_s"] for r in needle}):
        at = [r for r in needle if r["distance_s"] == d]
        cell = {}
        for m in MODES:
            rows = [r for r in at if r["mode"] == m]
            cell[m] = accuracy(rows) | {
                "needle_in_window": float(np.mean([r["needle_in_window"] for r in rows])),
                "needle_retrieved": float(np.mean([r["needle_retrieved"] for r in rows])),
                "needle_in_context": float(
                    np.mean([r["needle_in_window"] or r["needle_retrieved"] for r in rows])
                ),
                "recent_frames_max": max(r["recent_frames"] for r in rows),
                "context_tokens_mean": float(np.mean([r["context_tokens"] for r in rows])),
            }
        by_distance[str(d)] = {
            "modes": cell,
            "tests": [paired(at, "trial", a, b) for a, b in pairs],
        }
    kinds: dict[str, Any] = {}
    for kind in dict.fromkeys(r["kind"] for r in toylab):
        at = [r for r in toylab if r["kind"] == kind]
        modes = dict.fromkeys(r["mode"] for r in at)
        kinds[kind] = {m: accuracy([r for r in at if r["mode"] == m]) for m in modes}
    tests = [paired(toylab, "item", a, b) for a, b in (*pairs, ("one-shot", "full"))]
    return {"needle": by_distance, "toylab": kinds, "toylab_tests": tests}


def run(setup: Setup, lm: Any = None, progress: bool = True) -> dict[str, Any]:
    """Every trial and toy-lab item on one loaded ``toylab``; rows, analysis and cost."""
    import torch

    from vlmctx.engine import VideoLM

    torch.set_num_threads(1)
    t0, c0 = time.perf_counter(), time.process_time()
    lm = lm if lm is not None else VideoLM.load("toylab", device="cpu", dtype="float32")
    probe = open_sessions(lm, setup)
    shape = {
        m: {"sinks": s.stats()["sink_tokens"], "retrieve_tokens": s.retrieve_tokens}
        for m, s in probe.items()
    }
    for s in probe.values():
        s.close()
    needle: list[dict[str, Any]] = []
    for t in range(setup.trials):
        needle += needle_trial(lm, setup, t)
        if progress:
            done = [r for r in needle if r["trial"] == t and r["mode"] == "retrieval"]
            print(
                f"trial {t + 1}/{setup.trials}: retrieval right at "
                f"{[r['distance_s'] for r in done if r['correct']]}",
                flush=True,
            )
    t1, c1 = time.perf_counter(), time.process_time()
    toylab = [
        row
        for kind in setup.toylab_kinds
        for j in range(setup.toylab_per_kind)
        for row in toylab_item(lm, setup, kind, j)
    ]
    t2, c2 = time.perf_counter(), time.process_time()
    return {
        "setup": {
            **setup.__dict__,
            "model": "toylab",
            "device": "cpu",
            "dtype": "float32",
            "threads": 1,
            "render": list(RENDER),
            "sessions": shape,
        },
        "cost_s": {  # wall time
            "needle": round(t1 - t0, 1),
            "toylab": round(t2 - t1, 1),
            "total": round(t2 - t0, 1),
        },
        "cpu_s": {  # this process's CPU time
            "needle": round(c1 - c0, 1),
            "toylab": round(c2 - c1, 1),
            "total": round(c2 - c0, 1),
        },
        "analysis": analyse(needle, toylab),
        "needle_rows": needle,
        "toylab_rows": toylab,
        "command": "python -m vlmctx_eval.experiments.streaming_needle",
    }


def _pct(cell: dict[str, Any]) -> str:
    lo, hi = cell["ci95"]
    return f"{100 * cell['acc']:.0f} [{100 * lo:.0f}, {100 * hi:.0f}]"


def _window_frames(res: dict[str, Any], mode: str) -> int:
    """The most recent-window frames a question in ``mode`` attended to (measured)."""
    return max(c["modes"][mode]["recent_frames_max"] for c in res["analysis"]["needle"].values())


def markdown(res: dict[str, Any]) -> str:
    """The results as a Markdown page (tables with intervals and tests)."""
    s, a = res["setup"], res["analysis"]
    head = [
        "# Streaming visual needle: full context vs recent window vs retrieval",
        "",
        f"`{res['command']}` — toylab (Qwen2-VL, 1M parameters, trained on <= 16 frames) on CPU, "
        f"fp32, 1 thread; 1 fps, {s['chunk_frames']} frames per chunk; {s['trials']} streams, "
        f"needle at a random second in [{s['lead_s'][0]}, {s['lead_s'][1]}); question asked "
        f"*d* seconds later. window and retrieval: budget {s['budget']} KV tokens "
        f"({s['sessions']['window']['sinks']} sink tokens); window-only holds the last "
        f"{_window_frames(res, 'window')} frames, retrieval the last "
        f"{_window_frames(res, 'retrieval')} plus up to {s['top_k']} blocks "
        f"({s['retrieve_tokens']} tokens) brought back per question. Cost: "
        f"{res['cpu_s']['total']:.0f} s of CPU ({res['cost_s']['total']:.0f} s wall) on one "
        "niced thread of a shared 2-core machine.",
        "",
        "Accuracy in % with Wilson 95% intervals; *in ctx*: how often the needle frame was in "
        "what the question attended to (recent window or retrieved blocks).",
        "",
        "| d (s) | n | full | window | retrieval | window in ctx | retrieval in ctx |",
        "|---:|---:|---|---|---|---:|---:|",
    ]
    for d, cell in a["needle"].items():
        m = cell["modes"]
        w, r = m["window"], m["retrieval"]
        head.append(
            f"| {d} | {m['full']['n']} | {_pct(m['full'])} | {_pct(w)} | {_pct(r)} | "
            f"{100 * w['needle_in_context']:.0f} | {100 * r['needle_in_context']:.0f} |"
        )
    head += [
        "",
        "McNemar (paired, same questions; exact binomial below 25 discordant pairs):",
        "",
        "| d (s) | A vs B | only A right | only B right | p |",
        "|---:|---|---:|---:|---:|",
    ]
    for d, cell in a["needle"].items():
        for t in cell["tests"]:
            head.append(
                f"| {d} | {t['a']} vs {t['b']} | {t['a_only']} | {t['b_only']} | {t['p']:.3g} |"
            )
    head += [
        "",
        f"## Toy-lab questions mid-stream ({s['toylab_frames']} frames, asked at the last one)",
        "",
        "| kind | n | one-shot | full | window | retrieval |",
        "|---|---:|---|---|---|---|",
    ]
    for kind, cell in a["toylab"].items():
        head.append(
            f"| {kind} | {cell['full']['n']} | "
            + " | ".join(_pct(cell[m]) for m in ("one-shot", *MODES))
            + " |"
        )
    head += [
        "",
        "| A vs B (all kinds) | n | only A right | only B right | p |",
        "|---|---:|---:|---:|---:|",
    ]
    for t in a["toylab_tests"]:
        head.append(
            f"| {t['a']} vs {t['b']} | {t['n']} | {t['a_only']} | {t['b_only']} | {t['p']:.3g} |"
        )
    return "\n".join(head) + "\n"


def plot(res: dict[str, Any], path: Path) -> None:
    """Accuracy vs distance, one line per mode, Wilson intervals as error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    cells = res["analysis"]["needle"]
    xs = [int(d) for d in cells]
    for k, (m, style) in enumerate(zip(MODES, ("s--", "^:", "o-"), strict=True)):
        acc = [100 * cells[d]["modes"][m]["acc"] for d in cells]
        lo = [a - 100 * cells[d]["modes"][m]["ci95"][0] for a, d in zip(acc, cells, strict=True)]
        hi = [100 * cells[d]["modes"][m]["ci95"][1] - a for a, d in zip(acc, cells, strict=True)]
        shifted = [x * (1 + 0.04 * (k - 1)) for x in xs]  # keep the error bars apart
        ax.errorbar(shifted, acc, yerr=[lo, hi], fmt=style, capsize=3, label=m)
    ax.set(
        xscale="log",
        xlabel="needle distance when asked (s, 1 fps)",
        ylabel="accuracy (%)",
        ylim=(-3, 103),
        title="toylab streaming needle (Wilson 95% intervals)",
    )
    ax.set_xticks(xs, [str(x) for x in xs])
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(res: dict[str, Any], out: Path) -> list[Path]:
    """``streaming_needle.{json,md,png}`` under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [
        out / "streaming_needle.json",
        out / "streaming_needle.md",
        out / "streaming_needle.png",
    ]
    paths[0].write_text(json.dumps(res, indent=1) + "\n")
    paths[1].write_text(markdown(res))
    plot(res, paths[2])
    return paths


CHUNK_SIZES = (2, 4, 16)
CHUNK_DISTANCES = (4, 8, 16)


def chunk_ablation(lm: Any, trials: int, seed: int = 0) -> dict[str, Any]:
    """Why 16-frame chunks: the same needle streams in full context (nothing evicted), pushed
    2, 4 or 16 frames per chunk, the question asked 4, 8 and 16 s after the needle (after the
    first chunk that reaches that time, so larger chunks are asked up to a chunk later)."""
    import torch

    torch.set_num_threads(1)
    c0 = time.process_time()
    rows = []
    for t in range(trials):
        for cf in CHUNK_SIZES:
            rng = np.random.default_rng((seed, 18, 2, t))  # the same stream for every size
            at = int(rng.integers(8, 24))
            scene, answer = needle_scene(rng, at + max(CHUNK_DISTANCES) + 16, at)
            pending = list(CHUNK_DISTANCES)
            with lm.session() as s:
                for chunk in chunks(scene, cf):
                    s.push(chunk)
                    now = float(chunk.pts_s[-1])
                    while pending and now - at >= pending[0]:
                        a = s.ask(QUESTION, max_new_tokens=8)
                        rows.append(
                            {
                                "trial": t,
                                "mode": str(cf),
                                "distance_s": pending.pop(0),
                                "asked_after_s": now - at,
                                "prediction": a.text,
                                "answer": answer,
                                "correct": correct(a.text, answer),
                            }
                        )
                    if not pending:
                        break
    cells = {}
    for d in CHUNK_DISTANCES:
        at_d = [r for r in rows if r["distance_s"] == d]
        cells[str(d)] = {
            "modes": {
                str(cf): accuracy([r for r in at_d if r["mode"] == str(cf)])
                | {
                    "asked_after_s_mean": float(
                        np.mean([r["asked_after_s"] for r in at_d if r["mode"] == str(cf)])
                    )
                }
                for cf in CHUNK_SIZES
            },
            "tests": [paired(at_d, "trial", str(a), "16") for a in CHUNK_SIZES[:-1]],
        }
    return {
        "trials": trials,
        "seed": seed,
        "cells": cells,
        "rows": rows,
        "cpu_s": round(time.process_time() - c0, 1),
        "command": "python -m vlmctx_eval.experiments.streaming_needle --chunk-ablation",
    }


def chunk_markdown(res: dict[str, Any]) -> str:
    lines = [
        "# Streaming needle in full context: frames per chunk",
        "",
        f"`{res['command']}` — toylab on CPU, full context (nothing evicted), {res['trials']} "
        "streams, the same streams for each chunk size; accuracy in % with Wilson 95% intervals "
        "(mean seconds between needle and question in brackets after the chunk size). Each chunk "
        "is its own video piece of the prompt; the model was trained on one clip of <= 16 "
        f"frames. CPU: {res['cpu_s']:.0f} s.",
        "",
        "| d (s) | " + " | ".join(f"{cf} frames/chunk" for cf in CHUNK_SIZES) + " |",
        "|---:|" + "---|" * len(CHUNK_SIZES),
    ]
    for d, cell in res["cells"].items():
        parts = [
            f"{_pct(cell['modes'][str(cf)])} ({cell['modes'][str(cf)]['asked_after_s_mean']:.1f} s)"
            for cf in CHUNK_SIZES
        ]
        lines.append(f"| {d} | " + " | ".join(parts) + " |")
    lines += [
        "",
        "| d (s) | A vs B | only A right | only B right | p (McNemar) |",
        "|---:|---|---:|---:|---:|",
    ]
    for d, cell in res["cells"].items():
        for t in cell["tests"]:
            lines.append(
                f"| {d} | {t['a']} vs {t['b']} frames | {t['a_only']} | {t['b_only']} | "
                f"{t['p']:.3g} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="2 streams, 2 distances, 2 toy-lab items")
    p.add_argument("--trials", type=int, help="streams (default 40)")
    p.add_argument(
        "--out",
        type=Path,
        help="results folder (default: eval/bench/results for a "
        "full run; nothing written with --quick unless given)",
    )
    p.add_argument(
        "--chunk-ablation",
        action="store_true",
        help="only the frames-per-chunk comparison in full context (24 streams; "
        "streaming_needle_chunks.{md,json})",
    )
    args = p.parse_args(argv)
    setup = QUICK if args.quick else Setup()
    if args.trials is not None:
        if args.trials < 1:
            p.error(f"--trials must be >= 1, got {args.trials}")
        setup = Setup(**{**setup.__dict__, "trials": args.trials})
    out = args.out if args.out is not None else (None if args.quick else RESULTS)
    if args.chunk_ablation:
        from vlmctx.engine import VideoLM

        lm = VideoLM.load("toylab", device="cpu", dtype="float32")
        ablation = chunk_ablation(lm, args.trials or (2 if args.quick else 24))
        print(chunk_markdown(ablation))
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            (out / "streaming_needle_chunks.json").write_text(json.dumps(ablation, indent=1) + "\n")
            (out / "streaming_needle_chunks.md").write_text(chunk_markdown(ablation))
        return 0
    res = run(setup)
    print(markdown(res))
    if out is not None:
        for path in write(res, out):
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
