"""What the demo shows next to each answer: frames with timestamps, tokens, memory, time per stage.

Kept free of Gradio so it can be tested (and reused by other front ends) on its own.

The *planned* memory is :func:`vlmctx.planner.plan_memory` for this request (the model, the frames
as decoded, their timestamps, the question, the pooler and the weights' dtype), i.e. exactly what
``vlmctx plan`` prints for the same video and settings: weights + KV cache of the input tokens +
prefill activations. It plans the first turn; a follow-up also carries the earlier turns' tokens.
The *measured* memory is the engine's ``peak_memory_bytes``, labelled by its
``peak_memory_scope``: "call" is the CUDA allocator's peak during this call (comparable with the
plan); "process" is the CPU process's lifetime peak RSS, which also counts Python, the decoder,
the UI and every earlier call, so it is not a figure for this answer and reads higher.

Before a question is asked, :func:`tradeoff` draws the same plan over frame counts (visual tokens
and planned memory vs frames for the current pooler), and :func:`timeline_html` shows where the
sampled frames sit in the video.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from vlmctx.planner import MemoryPlan, Planner, human_bytes, plan_memory

STAGES = ("decode", "preprocess", "encode", "prefill", "generate")


def memory_plan_for(lm: Any, frames: Any, question: str) -> MemoryPlan:
    """``plan_memory`` for ``question`` about ``frames`` under ``lm``'s model, dtype and config.

    Cached per distinct request: planning runs the model's processor on a blank clip, which a
    repeated question about the same frames need not pay again.
    """
    cfg = lm.config
    return _plan(
        lm.model_id,
        len(frames),
        (int(frames.data.shape[1]), int(frames.data.shape[2])),
        question,
        str(lm.loaded.model.dtype).removeprefix("torch."),
        tuple(float(t) for t in frames.pts_s),
        float(frames.info.duration_s),
        cfg.pooling,
        json.dumps(dict(cfg.pooling_params), sort_keys=True),
    )


@lru_cache(maxsize=32)
def _plan(
    model: str,
    n: int,
    size: tuple[int, int],
    question: str,
    dtype: str,
    pts_s: tuple[float, ...],
    duration_s: float,
    pooling: str,
    pooling_json: str,
) -> MemoryPlan:
    return plan_memory(
        model, n, size, question, dtype, list(pts_s), duration_s, pooling, json.loads(pooling_json)
    )


def frame_captions(indices: Any, pts_s: Any) -> list[str]:
    """``"#123 @ 4.10 s"`` for each sampled frame."""
    return [f"#{int(i)} @ {float(t):.2f} s" for i, t in zip(indices, pts_s, strict=True)]


def readout_markdown(answer: dict[str, Any], plan: MemoryPlan, *, cached: bool, device: str) -> str:
    """A Markdown table for one answer (``answer`` is ``Answer.to_dict()``)."""
    t = answer["timings"]
    before = answer.get("extra", {}).get("visual_tokens_before_pooling", answer["visual_tokens"])
    pooling = answer["config"].get("pooling", "none")
    frames = answer["frames"]
    span = f"{frames[0][1]:.2f}-{frames[-1][1]:.2f} s" if frames else "-"
    rows = [
        ("frames", f"{len(frames)} ({answer['config'].get('sampler')}), {span}"),
        ("visual tokens", f"{before} before pooling, {answer['visual_tokens']} after ({pooling})"),
        ("input / new tokens", f"{answer['total_tokens']} / {answer['new_tokens']}"),
        (
            "memory planned",
            f"{human_bytes(plan.peak_prefill_bytes)} at prefill (weights "
            f"{human_bytes(plan.weight_bytes)} + KV {human_bytes(plan.kv_cache_bytes)} + "
            f"activations {human_bytes(plan.activation_bytes)}; {plan.total_tokens} tokens, "
            f"{plan.dtype}; as `vlmctx plan`)",
        ),
        ("memory measured", measured_memory(answer, device)),
    ]
    for stage in STAGES:
        note = " (frames reused from the previous turn)" if stage == "decode" and cached else ""
        rows.append((f"time: {stage}", f"{t.get(stage, 0.0):.3f} s{note}"))
    rows.append(("model", f"{answer['model']} ({answer.get('backend') or 'n/a'} decoder)"))
    return "| | |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows)


def measured_memory(answer: dict[str, Any], device: str) -> str:
    """The measured peak, said for what it is (``peak_memory_scope``: "call" or "process")."""
    peak = human_bytes(answer["peak_memory_bytes"])
    if answer.get("peak_memory_scope", "call") == "process":
        return (
            f"{peak} peak RSS of the whole process on {device} (since it started: model, Python, "
            "decoder, UI, earlier calls; not comparable with the plan)"
        )
    return f"{peak} GPU allocator peak of this call on {device} (compare with the plan)"


def timeline_html(pts_s: Any, indices: Any, duration_s: float) -> str:
    """An HTML strip under the video: one tick per sampled frame at its true timestamp.

    Each tick carries ``data-t`` (seconds); the page's script seeks the player there on a click.
    """
    duration = max(float(duration_s), 1e-6)
    ticks = []
    for i, t in zip(indices, pts_s, strict=True):
        left = min(max(float(t) / duration, 0.0), 1.0) * 100
        title = html.escape(f"frame #{int(i)} at {float(t):.2f} s (click to seek)")
        ticks.append(
            f'<button class="vt-tick" data-t="{float(t):.3f}" title="{title}" '
            f'aria-label="{title}" style="left:{left:.3f}%"></button>'
        )
    return (
        f'<div class="vt-wrap"><div class="vt-bar">{"".join(ticks)}</div>'
        f'<div class="vt-axis"><span>0 s</span><span>{len(ticks)} sampled frames (click one '
        f"to seek)</span><span>{duration:.2f} s</span></div></div>"
    )


# Frame counts of the trade-off curve; counts above EXACT_UP_TO are extended linearly.
CURVE_FRAMES = (1, 2, 4, 8, 16, 32, 64, 128, 256)
EXACT_UP_TO = 16
CURVE_QUESTION = "Describe the video."


@dataclass(frozen=True)
class TradeoffPoint:
    """Visual tokens and planned peak memory for ``frames`` frames (``exact``: counted by the
    processor; else extended linearly from the exact counts at 8 and 16 frames)."""

    frames: int
    visual_tokens: int
    total_tokens: int
    planned_bytes: int
    exact: bool


@lru_cache(maxsize=4)
def planner_for(model: str) -> Planner:
    """One :class:`~vlmctx.planner.Planner` per model (loading its processor is the slow part)."""
    return Planner(model)


def tradeoff(
    lm: Any, video: str, pooling: str, pooling_params: dict[str, Any], max_frames: int = 256
) -> list[TradeoffPoint]:
    """Tokens and planned memory vs frame count for ``video`` under ``lm``'s model and dtype.

    Frames are spread evenly over the video at the size the reader returns (``max_pixels``), as
    ``vlmctx plan`` plans them, with the question ``CURVE_QUESTION``. Counts up to EXACT_UP_TO
    are the processor's own (``plan_memory``'s path); larger ones extend the exact per-frame
    increment between 8 and 16 frames linearly, as ``vlmctx plan --fit`` does, so a 1080p upload
    never makes the planner allocate a 256-frame clip. Cached per distinct request.
    """
    from vlmctx.video import probe
    from vlmctx.video.reader import output_size

    info = probe(video)
    size = output_size(info, None, lm.config.max_pixels)
    dtype = str(lm.loaded.model.dtype).removeprefix("torch.")
    return list(_tradeoff(lm.model_id, video, info.num_frames, float(info.duration_s), size,
                          dtype, pooling, json.dumps(dict(pooling_params), sort_keys=True),
                          max_frames))  # fmt: skip


@lru_cache(maxsize=32)
def _tradeoff(
    model: str,
    video: str,
    video_frames: int,
    duration_s: float,
    size: tuple[int, int],
    dtype: str,
    pooling: str,
    pooling_json: str,
    max_frames: int,
) -> tuple[TradeoffPoint, ...]:
    import numpy as np

    planner = planner_for(model)
    params = json.loads(pooling_json)
    top = min(max_frames, video_frames)
    counts = [n for n in CURVE_FRAMES if n <= top] + ([top] if top not in CURVE_FRAMES else [])
    exact: dict[int, tuple[int, int]] = {}  # frames -> (total, visual) after pooling
    for n in sorted({*(c for c in counts if c <= EXACT_UP_TO), 8, 16} & set(range(1, top + 1))):
        pts = np.linspace(0.0, max(duration_s - 1e-3, 0.0), n)  # evenly spread timestamps
        exact[n] = planner.after_pooling(planner.count(n, size, CURVE_QUESTION, pts, duration_s),
                                         pooling, params)  # fmt: skip
    nbytes = {"float32": 4, "float64": 8}.get(dtype, 2)
    kv_tok, act_tok = planner.per_token(nbytes)
    fixed = planner.weights(nbytes)[0] + planner.state_bytes(nbytes)
    points = []
    for n in counts:
        if n in exact:
            total, visual = exact[n]
        else:  # beyond EXACT_UP_TO: the per-frame increment between 8 and 16 frames
            (t8, v8), (t16, v16) = exact[8], exact[16]
            total = round(t16 + (t16 - t8) / 8 * (n - 16))
            visual = round(v16 + (v16 - v8) / 8 * (n - 16))
        points.append(TradeoffPoint(n, visual, total, fixed + (kv_tok + act_tok) * total,
                                    n in exact))  # fmt: skip
    return tuple(points)
