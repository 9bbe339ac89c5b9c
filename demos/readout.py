"""What the demo shows next to each answer: frames with timestamps, tokens, memory, time per stage.

Kept free of Gradio so it can be tested (and reused by other front ends) on its own.

The *planned* memory is :func:`vlmctx.budget.plan_memory` for this request (the model, the frames
as decoded, their timestamps, the question, the pooler and the weights' dtype), i.e. exactly what
``vlmctx plan`` prints for the same video and settings: weights + KV cache of the input tokens +
prefill activations. It plans the first turn; a follow-up also carries the earlier turns' tokens.
The *measured* memory is the engine's ``peak_memory_bytes`` (CUDA peak allocation on GPU, process
peak RSS on CPU, which also counts Python, the decoder and the UI, so it reads higher).
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from vlmctx.budget import MemoryPlan, human_bytes, plan_memory

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
        ("memory measured", f"{human_bytes(answer['peak_memory_bytes'])} peak on {device}"),
    ]
    for stage in STAGES:
        note = " (frames reused from the previous turn)" if stage == "decode" and cached else ""
        rows.append((f"time: {stage}", f"{t.get(stage, 0.0):.3f} s{note}"))
    rows.append(("model", f"{answer['model']} ({answer.get('backend') or 'n/a'} decoder)"))
    return "| | |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows)
