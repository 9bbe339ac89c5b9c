"""Experiment: FAR trained at a short context, rolled out to 4x and 16x; FlexRoPE and compression.

The shipped ``far-shapes`` model was trained on clips of at most 16 frames (8-frame full-resolution
window + up to 8 compressed frames). Here it continues held-out moving-shapes clips from 8
ground-truth frames to 64 (4x) and 256 (16x) frames, under these context arms:

* ``full``: every earlier frame at full resolution, plain RoPE (extrapolated positions);
* ``full+flex s``: the same with FlexRoPE slope ``s`` (arXiv 2503.19325 v1);
* ``window``: sliding window of the last 8 frames, older frames dropped;
* ``longshort`` / ``longshort+flex s``: window + compressed long-term frames (FAR-Long).

Two measurements: (i) free-running rollout PSNR/SSIM per future frame (errors accumulate), and
(ii) teacher-forced PSNR of the next 2 frames given ``L`` ground-truth frames, L in {16, 64, 256},
which isolates positional extrapolation from error accumulation. Copy-last-frame is the floor.
Writes ``eval/bench/results/far_experiment.{json,md,png}``.

    python -m vlmctx_eval.experiments.far     # ~10 min, 1 thread (more threads are slower here)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from vlmctx.far import FlexRoPE, RolloutConfig, load_model, rollout
from vlmctx_eval.tasks.videogen.metrics import psnr, ssim
from vlmctx_eval.tasks.videogen.task import heldout_clips

RESULTS = Path(__file__).resolve().parents[1] / "bench" / "results"
TRAIN_LEN = 16


def arms(slopes: list[float]) -> dict[str, tuple[str, float]]:
    out = {"full": ("full", 0.0)}
    out.update({f"full+flex {s:g}": ("full", s) for s in slopes})
    out["window"] = ("window", 0.0)
    out["longshort"] = ("longshort", 0.0)
    out.update({f"longshort+flex {s:g}": ("longshort", s) for s in slopes})
    return out


def free_rollout(model, clips, layout, slope, steps, chunk) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame PSNR/SSIM [horizon] of rollouts from the first 8 frames of ``clips``."""
    rc = RolloutConfig(steps=steps, layout=layout, flex=FlexRoPE(slope))
    ps, ss = [], []
    for i in range(0, len(clips), chunk):
        c = clips[i : i + chunk]
        gen = torch.Generator().manual_seed(i)
        pred = rollout(model, c[:, :8], c.shape[1] - 8, rc, generator=gen)
        ps.append(psnr(pred, c[:, 8:]))
        ss.append(ssim(pred, c[:, 8:]))
    return torch.cat(ps).mean(0).numpy(), torch.cat(ss).mean(0).numpy()


def teacher_forced(model, clips, layout, slope, steps, length, chunk) -> float:
    """Mean PSNR of frames L and L+1 predicted from L ground-truth frames."""
    rc = RolloutConfig(steps=steps, layout=layout, flex=FlexRoPE(slope))
    vals = []
    for i in range(0, len(clips), chunk):
        c = clips[i : i + chunk]
        gen = torch.Generator().manual_seed(i)
        pred = rollout(model, c[:, :length], 2, rc, generator=gen)
        vals.append(psnr(pred, c[:, length : length + 2]))
    return float(torch.cat(vals).mean())


def run(args) -> dict:
    torch.set_num_threads(args.threads)
    model, info = load_model(args.model)
    horizon = TRAIN_LEN * 16
    clips = heldout_clips(args.clips, horizon + 2, model.cfg.height, model.cfg.channels)
    copy = clips[:, 7:8].expand(-1, horizon - 8, -1, -1, -1)
    res = {
        "model": args.model,
        "model_step": info.get("step"),
        "clips": args.clips,
        "steps": args.steps,
        "train_len": TRAIN_LEN,
        "arms": {},
    }
    res["copy_last_psnr"] = psnr(copy, clips[:, 8:horizon]).mean(0).tolist()
    res["copy_last_ssim"] = ssim(copy, clips[:, 8:horizon]).mean(0).tolist()
    for name, (layout, slope) in arms(args.slopes).items():
        t0 = time.perf_counter()
        p, s = free_rollout(model, clips[:, :horizon], layout, slope, args.steps, args.chunk)
        tf = {
            L: teacher_forced(model, clips, layout, slope, args.steps, L, args.tf_chunk)
            for L in (TRAIN_LEN, 4 * TRAIN_LEN, 16 * TRAIN_LEN)
        }
        res["arms"][name] = {
            "psnr": p.tolist(),
            "ssim": s.tolist(),
            "teacher_forced": tf,
            "seconds": time.perf_counter() - t0,
        }
        print(f"{name}: {time.perf_counter() - t0:.0f}s tf={tf}", flush=True)
    return res


def _span(xs, lo, hi) -> float:
    """Mean over generated frames with absolute index in [lo, hi) (frame 8 is the first)."""
    return float(np.mean(xs[lo - 8 : hi - 8]))


def to_markdown(r: dict) -> str:
    t = r["train_len"]
    spans = [(8, t), (t, 4 * t), (4 * t, 16 * t)]
    head = " | ".join(f"frames {a}-{b - 1}" for a, b in spans)
    lines = [
        f"# FAR context extrapolation on held-out moving shapes ({r['clips']} clips, "
        f"{r['steps']} Euler steps, model step {r['model_step']})",
        "",
        "Free-running rollout from 8 ground-truth frames: mean PSNR (dB) / SSIM over spans.",
        "",
        f"| arm | {head} | teacher-forced PSNR @ L={t} / {4 * t} / {16 * t} |",
        "|---|" + "---|" * (len(spans) + 1),
    ]
    cp, cs = r["copy_last_psnr"], r["copy_last_ssim"]
    row = " | ".join(f"{_span(cp, a, b):.2f} / {_span(cs, a, b):.3f}" for a, b in spans)
    lines.append(f"| copy last frame | {row} | - |")
    for name, a in r["arms"].items():
        row = " | ".join(
            f"{_span(a['psnr'], x, y):.2f} / {_span(a['ssim'], x, y):.3f}" for x, y in spans
        )
        tf = " / ".join(f"{v:.2f}" for v in a["teacher_forced"].values())
        lines.append(f"| {name} | {row} | {tf} |")
    lines += ["", "Command: `python -m vlmctx_eval.experiments.far`. Plot: far_experiment.png."]
    return "\n".join(lines) + "\n"


def plot(r: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    k = 4  # trailing moving average over 4 frames for readability (no edge padding)
    x = np.arange(8, 8 + len(r["copy_last_psnr"]))[k - 1 :]

    def smooth(v: list[float]) -> np.ndarray:
        return np.convolve(v, np.ones(k) / k, mode="valid")

    for name, a in r["arms"].items():
        ax.plot(x, smooth(np.array(a["psnr"])), label=name, lw=1.2)
    ax.plot(x, smooth(np.array(r["copy_last_psnr"])), "k--", label="copy last frame", lw=1)
    for m in (1, 4):
        ax.axvline(m * r["train_len"], color="grey", lw=0.6, ls=":")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("frame index (training clips: 16 frames)")
    ax.set_ylabel("PSNR (dB), 4-frame trailing average")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="far-shapes")
    p.add_argument("--clips", type=int, default=8)
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--slopes", type=float, nargs="+", default=[0.1, 0.5])
    p.add_argument("--chunk", type=int, default=16, help="clips per free rollout batch")
    p.add_argument("--tf-chunk", type=int, default=4, help="clips per teacher-forced batch")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=str(RESULTS / "far_experiment"))
    args = p.parse_args(argv)
    r = run(args)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out + ".json").write_text(json.dumps(r) + "\n")
    Path(args.out + ".md").write_text(to_markdown(r))
    plot(r, Path(args.out + ".png"))
    print(to_markdown(r))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
