"""GPU: expected runtime of each official benchmark on one GPU, from a few timed samples.

For each benchmark task (``videomme``, ``mlvu``, ``mlvu_gen``, ``longvideobench``, ``lvbench``,
``charades_sta``) and each protocol (a ``--preset`` name from :mod:`vlmctx_eval.harness.presets`, or
``uniform:N`` frames), a real checkpoint answers ``--samples`` questions of the benchmark's shape
(its prompt style and its ``max_new_tokens``, greedy) about a clip of each of the benchmark's
typical durations (:data:`BENCHMARKS`; bucket midpoints, see there), through ``VideoLM.ask`` (decode
+ preprocess + encode + prefill + generate; a fresh frames cache per sample, so every sample
decodes its video). Clips are generated H.264 at ``--side`` x 9/16 and ``--clip-fps`` (cached in the
synthetic-clip folder) unless ``--video TASK=FILE`` gives real files of that benchmark (their own
durations are used). Printed and written (``results/gpu_benchmarks.{json,md}``): seconds per
sample per duration, stage times, frames and visual tokens seen, and the projected hours of the
full benchmark = (number of questions) x (mean seconds per sample over the timed durations).

What the projection assumes: questions spread evenly over the timed durations (true for
Video-MME's three equal buckets; an assumption for the others); every question decodes its
video (a real run reuses decoded frames across the questions of one video, so it can be faster);
generated clips decode faster than 25-30 fps originals of the same duration (pass real files
with ``--video`` for that); the answer lengths of this model on these clips (``mlvu_gen`` asks for
up to 1000 new tokens: its time depends on how much the model writes); judge time is not counted.

    python -m vlmctx_eval.bench.gpu_benchmarks --model /ckpt/Qwen2.5-VL-7B-Instruct \
        [--protocols qwen2.5-vl-videomme,uniform:32] [--benchmarks videomme,lvbench] \
        [--samples 2] [--video videomme=/data/Video-MME/data/abc.mp4] [--time-budget 480]
    python -m vlmctx_eval.bench.gpu_benchmarks --dry-run   # CPU, tiny model, seconds-long clips
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"
MCQ = (
    "Select the best answer to the following multiple-choice question based on the video. "
    "Respond with only the letter (A, B, C, or D) of the correct option.\n"
    "What is shown most often in the video?\nA. a ball\nB. a square\nC. a person\nD. a car\n"
    "The best answer is:"
)
GEN = (
    "Carefully watch this video and pay attention to every detail. Based on your observations, "
    "answer the given questions.\nPlease summarize this video in detail."
)
GROUNDING = (
    "Find the start and end time, in seconds, of the moment described: 'the ball crosses the "
    "scene'. Answer as 'START - END'."
)


@dataclass(frozen=True)
class Bench:
    """A benchmark's size and typical clip durations (seconds), with where they come from."""

    task: str
    questions: int | None  # None: not known offline (give --questions TASK=N)
    durations_s: tuple[float, ...]
    prompt: str
    max_new_tokens: int
    source: str


# A data table, one entry per row aligned by hand for reading: `ruff format` skips it.
BENCHMARKS = {
    b.task: b
    for b in (
        Bench("videomme", 2700, (60.0, 570.0, 2700.0), MCQ, 32,
              "900 questions per bucket; midpoints of short <2 min, medium 4-15 min, long "
              "30-60 min (arXiv 2405.21075)"),
        Bench("mlvu", 2174, (180.0, 690.0, 3600.0), MCQ, 32,
              "dev MC; videos 3 min-2 h (arXiv 2406.04264): 3 min, 11.5 min, 1 h assumed"),
        Bench("mlvu_gen", None, (180.0, 690.0, 3600.0), GEN, 1000,
              "dev SSC + VS (count not checked offline); durations as mlvu, assumed"),
        Bench("longvideobench", 1337, (11.5, 37.5, 390.0, 2250.0), MCQ, 32,
              "val; midpoints of the duration groups 8-15 s, 15-60 s, 180-600 s, 900-3600 s "
              "(arXiv 2407.15754)"),
        Bench("lvbench", 1549, (3600.0,), MCQ, 32,
              "videos over an hour long (arXiv 2406.08035); 1 h assumed"),
        Bench("charades_sta", 3720, (30.0,), GROUNDING, 32,
              "test split; Charades videos about 30 s long (arXiv 1705.02101), assumed"),
    )
}  # fmt: skip


def protocol_config(spec: str) -> Any:
    """``uniform:N`` or a preset name -> the ContextConfig it runs under."""
    from vlmctx.config import ContextConfig
    from vlmctx.errors import ConfigError
    from vlmctx_eval.harness.presets import get

    if spec.startswith("uniform:"):
        n = spec.split(":", 1)[1]
        if not n.isdigit() or int(n) < 1:
            raise ConfigError(f"protocol {spec!r}: use uniform:N with N >= 1 frames")
        return ContextConfig(sampler="uniform", sampler_params={"n": int(n)})
    p = get(spec)
    return ContextConfig(
        sampler=p.sampler, sampler_params=dict(p.sampler_params), max_pixels=p.max_pixels
    )


def clip(duration_s: float, side: int, fps: int) -> str:
    """A cached generated H.264 clip of ``duration_s`` seconds (``side`` x 9/16 pixels)."""
    from vlmctx.video.synthetic.clips import synth_clip

    frames = max(2, round(duration_s * fps))
    height = max(16, (side * 9 // 16) // 2 * 2)
    return str(
        synth_clip(
            width=side, height=height, fps=fps, num_frames=frames, gop=fps * 10, bframes=0, crf=30
        )
    )


def time_one(lm: Any, config: Any, video: str, bench: Bench, max_new: int) -> dict[str, Any]:
    """One sample: ``VideoLM.ask`` with a fresh frames cache; wall seconds and what it saw."""
    import torch

    from vlmctx.engine import VideoLM

    fresh = VideoLM(lm.loaded, config, lm.model_id, lm.device)  # its own frames cache
    if str(lm.device).startswith("cuda"):
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    ans = fresh.ask(video, bench.prompt, max_new_tokens=max_new)
    if str(lm.device).startswith("cuda"):
        torch.cuda.synchronize()
    return dict(
        seconds=time.perf_counter() - t0,
        frames=len(ans.frames),
        visual_tokens=ans.visual_tokens,
        new_tokens=ans.new_tokens,
        timings={k: round(v, 4) for k, v in ans.timings.items()},
        peak_memory_bytes=ans.peak_memory_bytes,
    )


def bench_task(
    lm: Any,
    bench: Bench,
    videos: list[tuple[str, float]],
    protocols: list[str],
    args: argparse.Namespace,
    deadline: float,
) -> list[dict[str, Any]]:
    """Rows (protocol x video) of one benchmark: mean seconds per sample over ``--samples``."""
    rows = []
    max_new = min(bench.max_new_tokens, args.max_new_tokens or bench.max_new_tokens)
    for proto in protocols:
        config = protocol_config(proto)
        for video, duration in videos:
            row: dict[str, Any] = dict(
                task=bench.task, protocol=proto, video=video, duration_s=duration
            )
            if time.monotonic() > deadline:
                rows.append({**row, "status": "skipped (time budget)"})
                continue
            runs = [time_one(lm, config, video, bench, max_new) for _ in range(args.samples)]
            row.update(
                status="ok",
                samples=len(runs),
                runs=runs,
                seconds=sum(r["seconds"] for r in runs) / len(runs),
            )
            rows.append(row)
    return rows


def project(bench: Bench, rows: list[dict[str, Any]], questions: int | None) -> dict[str, Any]:
    """Per protocol: mean seconds per sample over the timed durations, and projected hours."""
    out = {}
    for proto in dict.fromkeys(r["protocol"] for r in rows):
        done = [r["seconds"] for r in rows if r["protocol"] == proto and r["status"] == "ok"]
        complete = len(done) == sum(1 for r in rows if r["protocol"] == proto)
        mean = sum(done) / len(done) if done else None
        hours = mean * questions / 3600 if mean is not None and questions and complete else None
        out[proto] = dict(
            seconds_per_sample=mean, questions=questions, hours=hours, complete=complete
        )
    return out


def markdown(result: dict[str, Any]) -> str:
    """The results as two tables, with how they were made."""
    cmd = "python -m vlmctx_eval.bench.gpu_benchmarks" + (" --dry-run" if result["dry_run"] else "")
    lines = [
        f"Expected runtime per benchmark (`{cmd}`); model {result['model']}, device "
        f"{result['device']}, {result['samples']} sample(s) per row, clips: "
        f"{result['clips']}. Projection = questions x mean s/sample over the timed "
        "durations (assumptions: the script's docstring); peak MiB: CUDA allocator peak of "
        "the call on a GPU, the process's peak RSS on the CPU.",
        "",
        "| task | protocol | clip s | status | s/sample | frames | visual tokens "
        "| new tokens | peak MiB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        if r["status"] != "ok":
            lines.append(
                f"| {r['task']} | {r['protocol']} | {r['duration_s']:.0f} | {r['status']}"
                " | - | - | - | - | - |"
            )
            continue
        last = r["runs"][-1]
        peak = last["peak_memory_bytes"]
        lines.append(
            f"| {r['task']} | {r['protocol']} | {r['duration_s']:.0f} | ok | "
            f"{r['seconds']:.2f} | {last['frames']} | {last['visual_tokens']} | "
            f"{last['new_tokens']} | {'-' if not peak else f'{peak / 2**20:,.0f}'} |"
        )
    lines += [
        "",
        "| task | protocol | questions | s/sample | projected hours | durations source |",
        "|---|---|---|---|---|---|",
    ]
    for task, per in result["projection"].items():
        for proto, p in per.items():
            sps = "-" if p["seconds_per_sample"] is None else f"{p['seconds_per_sample']:.2f}"
            hrs = "-" if p["hours"] is None else f"{p['hours']:.2f}"
            lines.append(
                f"| {task} | {proto} | {p['questions'] or 'unknown'} | {sps} | {hrs} | "
                f"{BENCHMARKS[task].source} |"
            )
    return "\n".join(lines) + "\n"


def _pairs(items: list[str] | None, flag: str) -> list[tuple[str, str]]:
    from vlmctx.errors import ConfigError

    out = []
    for item in items or []:
        task, sep, value = item.partition("=")
        if not sep or task not in BENCHMARKS or not value:
            raise ConfigError(
                f"{flag} {item!r}: expected TASK=VALUE with TASK one of {', '.join(BENCHMARKS)}"
            )
        out.append((task, value))
    return out


def _videos(args: argparse.Namespace, tasks: list[str]) -> dict[str, list[tuple[str, float]]]:
    """Per task: (file, duration) of the given real files, else generated clips."""
    from vlmctx.video import probe

    given: dict[str, list[tuple[str, float]]] = {}
    for task, path in _pairs(args.video, "--video"):
        given.setdefault(task, []).append((path, float(probe(path).duration_s)))
    out = {}
    for task in tasks:
        durations = BENCHMARKS[task].durations_s
        if args.dry_run:  # seconds-long stand-ins, one per typical duration
            durations = tuple(2.0 + i for i in range(len(durations)))
        out[task] = given.get(task) or [(clip(d, args.side, args.clip_fps), d) for d in durations]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m vlmctx_eval.bench.gpu_benchmarks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--model",
        help="checkpoint folder or hub id (default with --dry-run: a tiny random Qwen2.5-VL)",
    )
    p.add_argument(
        "--protocols",
        default=None,
        help="comma list of preset names and uniform:N (default "
        "qwen2.5-vl-videomme,uniform:32; dry run uniform:4,qwen2.5-vl-videomme)",
    )
    p.add_argument("--benchmarks", default=",".join(BENCHMARKS), help="comma list of tasks")
    p.add_argument("--samples", type=int, default=2, help="timed samples per row")
    p.add_argument(
        "--video",
        action="append",
        metavar="TASK=FILE",
        help="a real video of that benchmark (repeatable); default: generated clips",
    )
    p.add_argument(
        "--questions",
        action="append",
        metavar="TASK=N",
        help="question count where it is not known offline (mlvu_gen)",
    )
    p.add_argument("--side", type=int, default=640, help="generated clip width (16:9)")
    p.add_argument("--clip-fps", type=int, default=2, help="generated clip frame rate")
    p.add_argument(
        "--max-new-tokens",
        type=int,
        default=None,
        help="cap on each benchmark's max_new_tokens (default: none)",
    )
    p.add_argument("--time-budget", type=float, default=480.0, help="seconds for the rows")
    p.add_argument("--device", default=None, help="default: cuda (cpu with --dry-run)")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="CPU, tiny random model, 2-5 s clips at 64 px, 1 sample, 4 new tokens",
    )
    p.add_argument(
        "-o", "--out", type=Path, default=RESULTS, help="folder for gpu_benchmarks.{json,md}"
    )
    args = p.parse_args(argv)
    try:
        return _run(args)
    except Exception as exc:  # noqa: BLE001 - one line, exit 2 (bad name, missing GPU or file)
        from vlmctx.errors import VlmctxError

        if not isinstance(exc, (VlmctxError, ValueError, OSError, RuntimeError)):
            raise
        print(
            f"gpu_benchmarks: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
            file=sys.stderr,
        )
        return 2


def _run(args: argparse.Namespace) -> int:
    import torch

    from vlmctx.engine import VideoLM
    from vlmctx.errors import ConfigError

    if args.dry_run:
        args.model = args.model or "tiny-qwen2_5_vl"
        args.device = args.device or "cpu"
        args.protocols = args.protocols or "uniform:4,qwen2.5-vl-videomme"
        if args.samples == 2 and args.side == 640:  # the defaults: shrink them for the CPU
            args.samples, args.side = 1, 64
        args.max_new_tokens = args.max_new_tokens or 4
    args.device = args.device or "cuda"
    args.protocols = args.protocols or "qwen2.5-vl-videomme,uniform:32"
    if not args.model:
        raise ConfigError("give --model CHECKPOINT (or --dry-run for the CPU check)")
    if args.samples < 1:
        raise ConfigError("--samples must be at least 1")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("no CUDA device: run on a GPU, or use --dry-run (CPU, tiny model)")
    tasks = [t.strip() for t in args.benchmarks.split(",") if t.strip()]
    unknown = [t for t in tasks if t not in BENCHMARKS]
    if unknown or not tasks:
        raise ConfigError(
            f"--benchmarks: unknown {', '.join(unknown) or '(none given)'}; use "
            f"{', '.join(BENCHMARKS)}"
        )
    protocols = [s.strip() for s in args.protocols.split(",") if s.strip()]
    for proto in protocols:
        protocol_config(proto)  # bad names fail before the model loads
    counts = {t: int(n) for t, n in _pairs(args.questions, "--questions") if n.isdigit()}
    videos = _videos(args, tasks)
    dtype = torch.float32 if args.device == "cpu" else torch.bfloat16
    lm = VideoLM.load(args.model, protocol_config(protocols[0]), device=args.device, dtype=dtype)
    warm = videos[tasks[0]][0][0]  # one untimed call: kernels, allocator, lazy imports
    time_one(lm, protocol_config(protocols[0]), warm, BENCHMARKS[tasks[0]], 1)
    deadline = time.monotonic() + args.time_budget
    rows: list[dict[str, Any]] = []
    projection = {}
    for task in tasks:
        bench = BENCHMARKS[task]
        task_rows = bench_task(lm, bench, videos[task], protocols, args, deadline)
        rows += task_rows
        projection[task] = project(bench, task_rows, counts.get(task, bench.questions))
    device = torch.cuda.get_device_name() if args.device.startswith("cuda") else args.device
    clips = ("given files and " if args.video else "") + (
        f"generated {args.side}px-wide H.264 at {args.clip_fps} fps"
    )
    result = dict(
        dry_run=args.dry_run,
        model=args.model,
        device=device,
        samples=args.samples,
        clips=clips,
        protocols=protocols,
        rows=rows,
        projection=projection,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu_benchmarks.json").write_text(json.dumps(result, indent=1, default=str))
    (args.out / "gpu_benchmarks.md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
