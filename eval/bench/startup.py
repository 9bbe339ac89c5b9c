"""Benchmark: wall time of short ``vlmctx`` commands, against ``ffprobe`` and a bare interpreter.

A user's first commands (``--help``, ``info``, one ``ask`` on the sample with the shipped toylab
model) should feel like ffprobe's, not like loading a framework. Every command runs as a fresh
process, the way a user runs it; the commands alternate (one round = each command once, in a
shuffled order), so load on a shared machine hits them alike; after a warm-up round (page cache,
the sample video, .pyc files) medians and ratios are reported. Goals (issue 15): ``info`` <= 0.5 s,
``--help`` <= 0.3 s, ``ask`` <= 2.5 s. The load average is recorded with the results: on a loaded
machine absolute times stretch, ratios much less.

Floors, in the same rounds: ``python -c "import torch"`` and a script that does only what any
front end on transformers must do to answer with the toylab checkpoint (import PyAV and torch, load
its Qwen2-VL processor and model with ``from_pretrained``, no vlmctx); ``ask`` cannot start faster
than that on the installed torch/torchvision/transformers. ``--baseline DIR`` adds the vlmctx
commands run from an older checkout's ``vlmctx`` package (``PYTHONPATH=DIR``), so before and after
are measured side by side in one run and compared per round (ratios; the load moves between runs).

Children run without ``PYTHONDONTWRITEBYTECODE``, so the warm-up round leaves the ``.pyc`` files
an installed package has (``pip install`` compiles them); otherwise every run would recompile
vlmctx's own modules, a cost users do not pay.

    python -m vlmctx_eval.bench.startup              # 7 rounds, writes results/startup.{json,md}
    python -m vlmctx_eval.bench.startup --rounds 3   # quicker
    mkdir /tmp/before && git archive HEAD~3 vlmctx | tar -x -C /tmp/before   # older code
    python -m vlmctx_eval.bench.startup --baseline /tmp/before
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
QUESTION = "What colour is the ball?"
GOALS = {"vlmctx info": 0.5, "vlmctx --help": 0.3, "vlmctx ask (toylab)": 2.5}


# What the console script does (``from vlmctx.cli import main``), for a checkout on PYTHONPATH.
SHIM = "import sys; from vlmctx.cli import main; sys.argv[0] = 'vlmctx'; sys.exit(main())"
# The least any front end on transformers does to answer with the toylab checkpoint.
HF_FLOOR = (
    "import sys, av, torch\n"
    "from transformers import AutoProcessor, Qwen2VLForConditionalGeneration\n"
    "AutoProcessor.from_pretrained(sys.argv[1])\n"
    "Qwen2VLForConditionalGeneration.from_pretrained(sys.argv[1])"
)
BEFORE = " [before]"

Cmd = tuple[list[str], dict[str, str] | None]  # argv, extra environment


def vlmctx_command() -> list[str]:
    """The installed ``vlmctx`` console script beside this interpreter (what users run)."""
    script = Path(sys.executable).parent / "vlmctx"
    return [str(script)] if script.exists() else [sys.executable, "-m", "vlmctx.cli"]


def vlmctx_commands(v: list[str], clip: str) -> dict[str, list[str]]:
    """The timed vlmctx commands, for the command prefix ``v``."""
    return {
        "vlmctx --help": [*v, "--help"],
        "vlmctx info": [*v, "info", clip],
        "vlmctx ls": [*v, "ls"],
        "vlmctx ask (toylab)": [*v, "ask", "sample", QUESTION, "--model", "toylab", "--fps", "1"],
    }


def commands(clip: str, toylab: str, baseline: str | None = None) -> dict[str, Cmd]:
    """Label -> (command line, extra environment). ``clip`` is the bundled sample video (12 s,
    360 frames), ``toylab`` the shipped checkpoint's folder, ``baseline`` an older checkout."""
    py = sys.executable
    out: dict[str, Cmd] = {"python -c pass": ([py, "-c", "pass"], None)}
    if shutil.which("ffprobe"):  # ffprobe counting packets, as `vlmctx info` does
        out["ffprobe -count_packets"] = (
            ["ffprobe", "-v", "error", "-count_packets", "-show_streams", clip],
            None,
        )
    out["floor: import torch"] = ([py, "-c", "import torch"], None)
    out["floor: HF load of toylab"] = ([py, "-c", HF_FLOOR, toylab], None)
    out.update({k: (a, None) for k, a in vlmctx_commands(vlmctx_command(), clip).items()})
    if baseline:
        env = {"PYTHONPATH": str(Path(baseline).resolve())}
        for label, argv in vlmctx_commands([py, "-c", SHIM], clip).items():
            if label != "vlmctx ls":  # ls is not part of the comparison (and costs a round 5 s)
                out[label + BEFORE] = (argv, env)
    return out


def child_env(extra: dict[str, str] | None) -> dict[str, str]:
    """This environment plus ``extra``, with bytecode writing on (see the module docstring)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(extra or {})
    return env


def time_once(cmd: Cmd) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one run; a failing command stops the benchmark
    (its figure would lie). CPU time is the children's rusage delta: this process runs one child
    at a time, so the delta is that command's (its own children included)."""
    argv, extra = cmd
    env = child_env(extra)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def run(rounds: int, seed: int = 0, baseline: str | None = None) -> dict:
    """Time every command ``rounds`` times, alternating them; one warm-up round first."""
    from vlmctx.models.names import SHIPPED
    from vlmctx.runtime.assets import sample_video

    cmds = commands(str(sample_video()), str(SHIPPED["toylab"]), baseline)
    rng = random.Random(seed)
    times: dict[str, list[float]] = {k: [] for k in cmds}
    cpu: dict[str, list[float]] = {k: [] for k in cmds}
    load = [os.getloadavg()[0]]
    for r in range(rounds + 1):
        order = list(cmds)
        rng.shuffle(order)
        for label in order:
            t, c = time_once(cmds[label])
            if r > 0:
                times[label].append(t)
                cpu[label].append(c)
        load.append(os.getloadavg()[0])
        print(f"round {r}/{rounds} done (load {load[-1]:.1f})", file=sys.stderr, flush=True)
    return {
        "commands": {
            k: " ".join([*(f"{e}={v}" for e, v in (env or {}).items()), *argv])
            for k, (argv, env) in cmds.items()
        },
        "times_s": {k: [round(t, 4) for t in v] for k, v in times.items()},
        "median_s": {k: round(statistics.median(v), 4) for k, v in times.items()},
        "cpu_s": {k: [round(t, 4) for t in v] for k, v in cpu.items()},
        "cpu_median_s": {k: round(statistics.median(v), 4) for k, v in cpu.items()},
        "rounds": rounds,
        "baseline": baseline,
        "load_avg_1min": {"min": min(load), "max": max(load), "each_round": load},
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "goals_s": GOALS,
    }


def paired_ratios(doc: dict, key: str = "times_s") -> dict[str, list[float]]:
    """after / before per round, for every command measured both ways (same round, same load);
    ``key``: ``times_s`` (wall) or ``cpu_s``."""
    t = doc[key]
    return {
        k[: -len(BEFORE)]: [a / b for a, b in zip(t[k[: -len(BEFORE)]], v, strict=True)]
        for k, v in t.items()
        if k.endswith(BEFORE)
    }


def markdown(doc: dict, note: str = "") -> str:
    """The results table: wall and CPU medians, ratios to a bare interpreter, to ``import torch``
    and to ffprobe, goals; then before/after ratios when a baseline was measured."""
    med, cpu = doc["median_s"], doc["cpu_median_s"]
    base = med["python -c pass"]
    torch_wall, torch_cpu = med["floor: import torch"], cpu["floor: import torch"]
    ffprobe = med.get("ffprobe -count_packets")
    load = doc["load_avg_1min"]
    flags = f" --baseline {doc['baseline']}" if doc.get("baseline") else ""
    lines = [
        "# Start-up: wall time of short commands",
        "",
        f"`python -m vlmctx_eval.bench.startup --rounds {doc['rounds']}{flags}`: each command a "
        f"fresh process, {doc['rounds']} alternating rounds after a warm-up, medians. "
        f"{doc['machine']['cpus']} CPUs, 1-minute load average {load['min']:.1f}-{load['max']:.1f} "
        "during the run (other jobs share the machine; absolute times stretch with load, "
        "ratios much less). CPU = user + system seconds of the process and its children: on a "
        "loaded machine it stays close to what the command needs, while wall time waits for cores.",
        "",
        "| command | wall (s) | CPU (s) | wall x `python -c pass` | wall x `import torch` "
        "| CPU x `import torch` | wall x ffprobe | goal (s, wall) | meets |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for label, t in med.items():
        goal = doc["goals_s"].get(label)
        vs_ff = f"{t / ffprobe:.1f}" if ffprobe else "n/a"
        meets = "" if goal is None else ("yes" if t <= goal else "no")
        lines.append(
            f"| `{label}` | {t:.3f} | {cpu[label]:.3f} | {t / base:.1f} | "
            f"{t / torch_wall:.2f} | {cpu[label] / torch_cpu:.2f} | {vs_ff} | "
            f"{'' if goal is None else goal} | {meets} |"
        )
    wall_r, cpu_r = paired_ratios(doc), paired_ratios(doc, "cpu_s")
    if wall_r:
        lines += [
            "",
            "After / before, paired by round (median, and range over the rounds):",
            "",
            "| command | wall after / before | range | CPU after / before | range |",
            "|---|---:|---|---:|---|",
        ]
        for label, r in wall_r.items():
            c = cpu_r[label]
            lines.append(
                f"| `{label}` | {statistics.median(r):.2f} | {min(r):.2f}-{max(r):.2f} "
                f"| {statistics.median(c):.2f} | {min(c):.2f}-{max(c):.2f} |"
            )
    if note:
        lines += ["", note.strip()]
    lines += ["", "Command lines:", ""]
    lines += [f"- `{k}`: `{v.replace(chr(10), '; ')}`" for k, v in doc["commands"].items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=7, help="timed rounds after a warm-up (7)")
    p.add_argument("--out", default=str(RESULTS), help="folder for startup.json and startup.md")
    p.add_argument(
        "--baseline",
        help="an older checkout (a folder holding its vlmctx/ package) to "
        "time side by side with this one",
    )
    p.add_argument("--note", default="", help="a paragraph added under the tables (what changed)")
    args = p.parse_args(argv)
    if args.rounds < 1:
        p.error("--rounds must be >= 1")
    if args.baseline and not (Path(args.baseline) / "vlmctx" / "cli.py").is_file():
        p.error(f"--baseline {args.baseline!r} holds no vlmctx/cli.py")
    doc = run(args.rounds, baseline=args.baseline)
    doc["note"] = args.note
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "startup.json").write_text(json.dumps(doc, indent=2) + "\n")
    (out / "startup.md").write_text(markdown(doc, args.note))
    print(markdown(doc, args.note))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
