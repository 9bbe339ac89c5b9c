"""What the demo shows next to each answer: frames with timestamps, tokens, memory, time per stage.

Kept free of Gradio so it can be tested (and reused by other front ends) on its own.

The *planned* memory is an estimate made from the model's config for this request: weights plus
the KV cache of (input tokens + max new tokens) — ``2 x layers x kv_heads x head_dim x bytes`` per
token. The *measured* memory is the engine's ``peak_memory_bytes`` (CUDA peak allocation on GPU,
process peak RSS on CPU, which also counts Python, the decoder and the UI, so it reads higher).
"""

from __future__ import annotations

from typing import Any

STAGES = ("decode", "preprocess", "encode", "prefill", "generate")


def _text_config(model: Any) -> Any:
    cfg = model.config
    for name in ("text_config", "llm_config"):
        sub = getattr(cfg, name, None)
        if sub is not None:
            return sub
    return cfg


def weight_bytes(model: Any) -> int:
    """Bytes held by the model's parameters and buffers."""
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    return int(params + sum(b.numel() * b.element_size() for b in model.buffers()))


def kv_bytes_per_token(model: Any) -> int:
    """KV-cache bytes one token costs: 2 (k, v) x layers x kv heads x head dim x element size."""
    tc = _text_config(model)
    heads = int(tc.num_attention_heads)
    kv_heads = int(getattr(tc, "num_key_value_heads", None) or heads)
    head_dim = int(getattr(tc, "head_dim", None) or tc.hidden_size // heads)
    elem = next(model.parameters()).element_size()
    return 2 * int(tc.num_hidden_layers) * kv_heads * head_dim * elem


def planned_memory(model: Any, input_tokens: int, max_new_tokens: int) -> dict[str, int]:
    """Weights + KV cache for ``input_tokens + max_new_tokens`` (see the module docstring)."""
    weights = weight_bytes(model)
    kv = kv_bytes_per_token(model) * (input_tokens + max_new_tokens)
    return {"weights": weights, "kv_cache": kv, "total": weights + kv}


def mib(n: float) -> str:
    return f"{n / 2**20:,.1f} MiB"


def frame_captions(indices: Any, pts_s: Any) -> list[str]:
    """``"#123 @ 4.10 s"`` for each sampled frame."""
    return [f"#{int(i)} @ {float(t):.2f} s" for i, t in zip(indices, pts_s, strict=True)]


def readout_markdown(
    answer: dict[str, Any], plan: dict[str, int], *, cached: bool, device: str
) -> str:
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
            f"{mib(plan['total'])} (weights {mib(plan['weights'])} + KV {mib(plan['kv_cache'])})",
        ),
        ("memory measured", f"{mib(answer['peak_memory_bytes'])} peak on {device}"),
    ]
    for stage in STAGES:
        note = " (frames reused from the previous turn)" if stage == "decode" and cached else ""
        rows.append((f"time: {stage}", f"{t.get(stage, 0.0):.3f} s{note}"))
    rows.append(("model", f"{answer['model']} ({answer.get('backend') or 'n/a'} decoder)"))
    return "| | |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows)
