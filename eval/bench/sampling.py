"""Benchmark: N uniform frames from long H.264 videos with every backend, ``auto`` and two baselines.

Videos (generated once with the ``ffmpeg`` CLI, cached in ``~/.cache/vlmctx/bench``): testsrc2,
libx264 veryfast, GOP 250 (closed, no scene-cut keyframes), 2 B-frames; 10 min 1280x720 30 fps and
60 min 640x360 30 fps. Each case (video, method, N, repetition) runs in a fresh subprocess so its
peak RSS is its own; the time covers probe + decode (imports excluded). Frames are compared with a
reference, the full sequential PyAV decode (the ``pyav_from_start`` baseline), byte for byte.

    python -m vlmctx_eval.bench.sampling            # full run, writes results/sampling.{json,md}
    python -m vlmctx_eval.bench.sampling --quick    # ~1 min smoke run on a short clip
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CACHE = Path(os.environ.get("VLMCTX_BENCH_DIR", Path.home() / ".cache" / "vlmctx" / "bench"))
RESULTS = Path(__file__).parent / "results"
METHODS = (
    "auto",
    "torchcodec",
    "pyav",
    "decord",
    "opencv",
    "baseline_decord_get_batch",
    "baseline_pyav_from_start",
)
VIDEOS = {  # name -> (width, height, seconds)
    "10min_1280x720": (1280, 720, 600),
    "60min_640x360": (640, 360, 3600),
}
QUICK_VIDEOS = {"30s_640x360": (640, 360, 30)}


def video_path(name: str, width: int, height: int, seconds: int) -> Path:
    """The cached benchmark video, generated with ffmpeg on first use."""
    path = CACHE / f"testsrc2_{width}x{height}_30fps_{seconds}s_g250_bf2.mp4"
    if path.exists():
        return path
    if shutil.which("ffmpeg") is None:
        raise SystemExit("the benchmark needs the `ffmpeg` CLI to generate its videos")
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part.mp4")
    cmd = ["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-f", "lavfi", "-i"]
    cmd += [f"testsrc2=size={width}x{height}:rate=30:duration={seconds}", "-c:v", "libx264"]
    cmd += ["-preset", "veryfast", "-g", "250", "-keyint_min", "250", "-sc_threshold", "0"]
    cmd += ["-bf", "2", "-pix_fmt", "yuv420p", str(tmp)]
    print(f"generating {name} -> {path} ...", flush=True)
    subprocess.run(cmd, check=True)
    tmp.rename(path)
    return path


def uniform_indices(num_frames: int, n: int) -> np.ndarray:
    """The uniform sampler's indices: linspace(0, T-1, n) rounded (qwen-vl-utils' rule)."""
    return np.unique(np.round(np.linspace(0, num_frames - 1, n)).astype(np.int64))


# ---------------------------------------------------------------- child side (one case)


def _decode(method: str, path: str, n: int) -> tuple[np.ndarray, float]:
    """Run one method; returns (frames (t, h, w, 3), seconds). Imports happen before the clock."""
    from vlmctx.video.probe import probe
    from vlmctx.video.reader import backend_status, read_frames
    from vlmctx.video.types import Selection

    if method in ("decord", "baseline_decord_get_batch"):
        import decord
    if method == "opencv":
        import cv2  # noqa: F401
    if method in METHODS[:5]:
        backend_status(method)  # loads the backend's library before the clock starts
    start = time.perf_counter()
    if method == "baseline_decord_get_batch":
        vr = decord.VideoReader(path, ctx=decord.cpu(0))
        frames = vr.get_batch(uniform_indices(len(vr), n).tolist()).asnumpy()
    elif method == "baseline_pyav_from_start":
        frames = _pyav_from_start(path, uniform_indices(probe(path).num_frames, n))
    else:
        info = probe(path)
        idx = uniform_indices(info.num_frames, n)
        frames = read_frames(info, Selection(idx, info.pts_s[idx], 0.0), backend=method).data
    return frames, time.perf_counter() - start


def _pyav_from_start(path: str, idx: np.ndarray) -> np.ndarray:
    """lmms-eval's way: decode from frame 0 to the last wanted index, keep the wanted ones."""
    import av

    wanted, last = set(idx.tolist()), int(idx[-1])
    kept = []
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for i, frame in enumerate(container.decode(stream)):
            if i in wanted:
                kept.append(frame.to_ndarray(format="rgb24"))
            if i >= last:
                break
    return np.stack(kept)


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _child(spec: dict) -> None:
    rss_after_imports = _rss_mb()
    frames, seconds = _decode(spec["method"], spec["path"], spec["n"])
    # Peak RSS of the decode itself, read before the equality check maps the reference frames.
    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # decord's worker
    out = {"seconds": seconds, "frames": int(frames.shape[0]), "equal": None, "max_abs_diff": None}
    out["peak_rss_mb"] = max(self_kb, kids_kb) / 1024
    if spec.get("save"):
        np.save(spec["save"], frames)
    if spec.get("ref") and os.path.exists(spec["ref"]):
        ref = np.load(spec["ref"], mmap_mode="r")
        if ref.shape == frames.shape:
            diff = max(
                int(np.abs(ref[i].astype(np.int16) - frames[i]).max()) for i in range(len(ref))
            )
            out["equal"], out["max_abs_diff"] = diff == 0, diff
        else:
            out["equal"] = False
    out["rss_start_mb"] = rss_after_imports
    print("RESULT " + json.dumps(out), flush=True)


# ---------------------------------------------------------------- parent side


def run_case(spec: dict, timeout: float) -> dict:
    cmd = [sys.executable, "-m", "vlmctx_eval.bench.sampling", "--child", json.dumps(spec)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout after {timeout:.0f}s"}
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    return {"error": (proc.stderr.strip().splitlines() or ["no output"])[-1][:200]}


def summarize(runs: list[dict], n: int) -> dict:
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return {"error": runs[0]["error"], "reps": len(runs)}
    secs = float(np.median([r["seconds"] for r in ok]))
    return {
        "seconds": secs,
        "seconds_all": [r["seconds"] for r in ok],
        "frames_per_s": n / secs,
        "peak_rss_mb": float(max(r["peak_rss_mb"] for r in ok)),
        "equal": all(r["equal"] for r in ok) if ok[0]["equal"] is not None else None,
        "max_abs_diff": max((r["max_abs_diff"] or 0) for r in ok),
        "reps": len(ok),
    }


def bench(args: argparse.Namespace) -> dict:
    videos = QUICK_VIDEOS if args.quick else VIDEOS
    if args.videos:
        videos = {k: v for k, v in videos.items() if k in args.videos}
    ns = args.n or ([16, 64] if args.quick else [16, 64, 256])
    results: dict = {"meta": _meta(args, ns), "cases": []}
    tmp = Path(tempfile.mkdtemp(prefix="vlmctx-bench-"))
    try:
        for vname, (w, h, secs) in videos.items():
            path = str(video_path(vname, w, h, secs))
            for n in ns:
                ref = str(tmp / f"ref-{vname}-{n}.npy")
                for method in (
                    "baseline_pyav_from_start",
                    *[m for m in METHODS if m != "baseline_pyav_from_start"],
                ):
                    reps = args.slow_reps if _is_slow(method, secs) else args.reps
                    runs = []
                    for rep in range(reps):
                        save = ref if method == "baseline_pyav_from_start" and rep == 0 else None
                        spec = {"method": method, "path": path, "n": n, "ref": ref, "save": save}
                        runs.append(run_case(spec, args.timeout))
                    row = {"video": vname, "n": n, "method": method, **summarize(runs, n)}
                    results["cases"].append(row)
                    print(_fmt_row(row), flush=True)
                    _write(results, args)
                Path(ref).unlink(missing_ok=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return results


def _is_slow(method: str, seconds: int) -> bool:
    """Fewer repetitions for the O(video length) baseline, and for both baselines at 60 min."""
    return method == "baseline_pyav_from_start" or (
        seconds >= 3600 and method.startswith("baseline")
    )


def _meta(args: argparse.Namespace, ns: list[int]) -> dict:
    """Run facts. Versions come from package metadata: importing the decoders here would inflate
    every child's peak RSS (Linux keeps ru_maxrss across fork+exec)."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for dist in ("av", "decord", "opencv-python-headless", "opencv-python", "torchcodec"):
        try:
            versions[dist] = version(dist)
        except PackageNotFoundError:
            continue
    return {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs (shared)",
        "versions": versions,
        "n": ns,
        "reps": args.reps,
        "slow_reps": args.slow_reps,
        "quick": args.quick,
    }


def _fmt_row(row: dict) -> str:
    if "error" in row:
        return f"{row['video']:>15} N={row['n']:<4} {row['method']:<26} ERROR {row['error']}"
    return (
        f"{row['video']:>15} N={row['n']:<4} {row['method']:<26} {row['seconds']:8.2f} s "
        f"{row['frames_per_s']:7.1f} f/s {row['peak_rss_mb']:7.0f} MB equal={row['equal']}"
    )


def to_markdown(results: dict) -> str:
    meta = results["meta"]
    lines = [
        f"Measured {meta['date']} on {meta['machine']}; versions {meta['versions']}.",
        f"Seconds are the median of {meta['reps']} runs ({meta['slow_reps']} for rows marked *), "
        "each in a fresh process; time covers probe + decode. `equal`: frames identical to a full "
        "sequential PyAV decode.",
        "",
    ]
    for video in dict.fromkeys(c["video"] for c in results["cases"]):
        lines += [
            f"### {video}",
            "",
            "| method | " + " | ".join(f"N={n}" for n in meta["n"]) + " |",
        ]
        lines.append("|---" * (len(meta["n"]) + 1) + "|")
        for method in METHODS:
            cells = []
            for n in meta["n"]:
                row = next(
                    (
                        c
                        for c in results["cases"]
                        if c["video"] == video and c["n"] == n and c["method"] == method
                    ),
                    None,
                )
                cells.append(_cell(row))
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        lines.append("")
    lines.append("Cell: seconds / frames per second / peak RSS MB / equal to reference.")
    return "\n".join(lines) + "\n"


def _cell(row: dict | None) -> str:
    if row is None:
        return "-"
    if "error" in row:
        return f"error: {row['error'][:40]}"
    star = "*" if row["reps"] == 1 and row.get("reps") is not None else ""
    eq = {True: "yes", False: f"NO (max diff {row['max_abs_diff']})", None: "ref"}[row["equal"]]
    if row["method"] == "baseline_pyav_from_start":
        eq = "ref"
    return (
        f"{row['seconds']:.2f}{star} / {row['frames_per_s']:.1f} / {row['peak_rss_mb']:.0f} / {eq}"
    )


def _write(results: dict, args: argparse.Namespace) -> None:
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = "sampling_quick" if args.quick else "sampling"
    (out / f"{stem}.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / f"{stem}.md").write_text(to_markdown(results))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="30 s clip, N=16/64, 1 rep")
    parser.add_argument("--n", type=int, nargs="*", help="frame counts (default 16 64 256)")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--slow-reps", type=int, default=1, help="reps for the slow baselines")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per case")
    parser.add_argument("--videos", nargs="*", help=f"subset of {', '.join(VIDEOS)}")
    parser.add_argument("--out-dir", default=str(RESULTS))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(json.loads(args.child))
        return
    if args.quick:
        args.reps, args.slow_reps = 1, 1
    bench(args)


if __name__ == "__main__":
    main()
