"""Benchmark: wall time of short ``vlmctx`` commands, against ``ffprobe`` and a bare interpreter.

A user's first commands (``--help``, ``info``, one ``ask`` on the sample with the shipped toylab
model) should feel like ffprobe's, not like loading a framework. Every command runs as a fresh
process, the way a user runs it; the commands alternate (one round = each command once, in a
shuffled order), so load on a shared machine hits them alike; after a warm-up round (page cache,
the sample video, .pyc files) medians and ratios are reported. Goals (issue 15): ``info`` <= 0.5 s,
``--help`` <= 0.3 s, ``ask`` <= 2.5 s. The load average is recorded with the results: on a loaded
machine absolute times stretch, ratios much less.

    python -m vlmctx_eval.bench.startup              # 7 rounds, writes results/startup.{json,md}
    python -m vlmctx_eval.bench.startup --rounds 3   # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
QUESTION = "What colour is the ball?"
GOALS = {"vlmctx info": 0.5, "vlmctx --help": 0.3, "vlmctx ask (toylab)": 2.5}


def vlmctx_command() -> list[str]:
    """The installed ``vlmctx`` console script beside this interpreter (what users run)."""
    script = Path(sys.executable).parent / "vlmctx"
    return [str(script)] if script.exists() else [sys.executable, "-m", "vlmctx.cli"]


def commands(clip: str) -> dict[str, list[str]]:
    """Label -> command line. ``clip`` is the bundled sample video (12 s, 360 frames)."""
    v = vlmctx_command()
    out = {"python -c pass": [sys.executable, "-c", "pass"]}
    if shutil.which("ffprobe"):  # ffprobe counting packets, as `vlmctx info` does
        out["ffprobe -count_packets"] = ["ffprobe", "-v", "error", "-count_packets",
                                         "-show_streams", clip]  # fmt: skip
    out.update({
        "vlmctx --help": [*v, "--help"],
        "vlmctx info": [*v, "info", clip],
        "vlmctx ls": [*v, "ls"],
        "vlmctx ask (toylab)": [*v, "ask", "sample", QUESTION, "--model", "toylab", "--fps", "1"],
    })  # fmt: skip
    return out


def time_once(argv: list[str]) -> float:
    """Wall seconds of one run; a failing command stops the benchmark (its figure would lie)."""
    t0 = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return wall


def run(rounds: int, seed: int = 0) -> dict:
    """Time every command ``rounds`` times, alternating them; one warm-up round first."""
    from vlmctx.assets import sample_video

    cmds = commands(str(sample_video()))
    rng = random.Random(seed)
    times: dict[str, list[float]] = {k: [] for k in cmds}
    load = [os.getloadavg()[0]]
    for r in range(rounds + 1):
        order = list(cmds)
        rng.shuffle(order)
        for label in order:
            t = time_once(cmds[label])
            if r > 0:
                times[label].append(t)
        load.append(os.getloadavg()[0])
        print(f"round {r}/{rounds} done (load {load[-1]:.1f})", file=sys.stderr, flush=True)
    return {
        "commands": {k: " ".join(v) for k, v in cmds.items()},
        "times_s": {k: [round(t, 4) for t in v] for k, v in times.items()},
        "median_s": {k: round(statistics.median(v), 4) for k, v in times.items()},
        "rounds": rounds,
        "load_avg_1min": {"min": min(load), "max": max(load), "each_round": load},
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },  # fmt: skip
        "goals_s": GOALS,
    }


def markdown(doc: dict) -> str:
    """The results table: medians, ratios to a bare interpreter and to ffprobe, goals."""
    med = doc["median_s"]
    base = med["python -c pass"]
    ffprobe = med.get("ffprobe -count_packets")
    load = doc["load_avg_1min"]
    lines = [
        "# Start-up: wall time of short commands",
        "",
        f"`python -m vlmctx_eval.bench.startup --rounds {doc['rounds']}`: each command a fresh "
        f"process, {doc['rounds']} alternating rounds after a warm-up, medians. "
        f"{doc['machine']['cpus']} CPUs, 1-minute load average {load['min']:.1f}-{load['max']:.1f} "
        "during the run (other jobs share the machine; absolute times stretch with load, "
        "ratios much less).",
        "",
        "| command | median (s) | x `python -c pass` | x ffprobe | goal (s) | meets |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for label, t in med.items():
        goal = doc["goals_s"].get(label)
        vs_ff = f"{t / ffprobe:.1f}" if ffprobe else "n/a"
        meets = "" if goal is None else ("yes" if t <= goal else "no")
        lines.append(f"| `{label}` | {t:.3f} | {t / base:.1f} | {vs_ff} | "
                     f"{'' if goal is None else goal} | {meets} |")  # fmt: skip
    lines += ["", "Command lines:", ""]
    lines += [f"- `{k}`: `{v}`" for k, v in doc["commands"].items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=7, help="timed rounds after a warm-up (7)")
    p.add_argument("--out", default=str(RESULTS), help="folder for startup.json and startup.md")
    args = p.parse_args(argv)
    if args.rounds < 1:
        p.error("--rounds must be >= 1")
    doc = run(args.rounds)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "startup.json").write_text(json.dumps(doc, indent=2) + "\n")
    (out / "startup.md").write_text(markdown(doc))
    print(markdown(doc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
