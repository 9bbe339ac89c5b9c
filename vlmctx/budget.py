"""Tokens and memory of a plan (model x frames x resolution), computed before any weight is loaded.

The visual-token count is exact: the model's own processor is run on a zero-filled clip of the
planned size with the same prompt ``VideoLM.ask`` would build (processors are cheap; weights are
not loaded). The KV cache follows from the text config:
``2 (K and V) x layers x kv_heads x head_dim x tokens x bytes per element``. Weights are read from
the safetensors headers of a local checkpoint (exact) or estimated from the config. Peak prefill
memory is estimated as weights + KV cache + activations of the widest prefill step: per token
``4 x hidden`` (hidden states, q/k/v, attention output) + ``3 x intermediate`` (a SwiGLU MLP holds
its gate, up and their product at once). The MLP term was ``2 x`` until the live-tensor
measurement of ``eval/bench/memory.py`` (sdpa attention) showed the peak sits in the last layer's
MLP with three intermediate-sized tensors alive.

With a pooler, visual tokens are counted after pooling by the adapter's planner term (each
family's per-frame token grid).
"""

from __future__ import annotations

import json
import struct
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vlmctx.errors import BudgetExceededError, ConfigError

_DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8}


@dataclass(frozen=True)
class MemoryPlan:
    """What a plan costs; all sizes in bytes."""

    model: str
    frames: int
    frame_size: tuple[int, int]  # (height, width) fed to the processor
    visual_tokens: int
    total_tokens: int
    kv_cache_bytes: int
    weight_bytes: int
    weights_exact: bool
    activation_bytes: int
    peak_prefill_bytes: int
    dtype: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def table(self) -> str:
        rows = [
            ("model", self.model),
            ("frames", f"{self.frames} at {self.frame_size[0]}x{self.frame_size[1]}"),
            ("visual tokens", f"{self.visual_tokens:,}"),
            ("total input tokens", f"{self.total_tokens:,}"),
            ("KV cache", f"{human_bytes(self.kv_cache_bytes)} ({self.dtype})"),
            ("weights", human_bytes(self.weight_bytes)
             + ("" if self.weights_exact else " (estimated from config)")),
            ("activations (prefill)", human_bytes(self.activation_bytes)),
            ("peak prefill (est.)", human_bytes(self.peak_prefill_bytes)),
        ]  # fmt: skip
        width = max(len(k) for k, _ in rows)
        return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def human_bytes(n: float) -> str:
    """1536 -> '1.50 KiB'."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} B" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024
    return f"{n:.2f} TiB"


def parse_bytes(text: str) -> int:
    """'8GiB', '512MB', '1e9' -> bytes."""
    units = {"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40,
             "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12, "b": 1}  # fmt: skip
    s = text.strip().lower().replace(" ", "")
    for unit, mult in units.items():
        if s.endswith(unit):
            s, factor = s[: -len(unit)], mult
            break
    else:
        factor = 1
    try:
        return int(float(s) * factor)
    except ValueError as exc:
        raise ConfigError(f"cannot read memory size {text!r}; use e.g. 8GiB or 512MB") from exc


def kv_bytes_per_token(text_config: Any, dtype_bytes: int) -> int:
    """K and V of every layer for one token."""
    heads = text_config.num_attention_heads
    kv_heads = getattr(text_config, "num_key_value_heads", None) or heads
    head_dim = getattr(text_config, "head_dim", None) or text_config.hidden_size // heads
    return 2 * text_config.num_hidden_layers * kv_heads * head_dim * dtype_bytes


def _weights_from_headers(folder: Path) -> int | None:
    """Exact parameter bytes from safetensors headers (no tensor is read)."""
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        return None
    total = 0
    for f in files:
        with open(f, "rb") as fh:
            (n,) = struct.unpack("<Q", fh.read(8))
            header = json.loads(fh.read(n))
        for key, meta in header.items():
            if key != "__metadata__":
                start, end = meta["data_offsets"]
                total += end - start
    return total


def _weights_from_config(text_config: Any, dtype_bytes: int) -> int:
    """Language-model parameters from the config (the vision tower is not counted)."""
    h, inter = text_config.hidden_size, text_config.intermediate_size
    kv = kv_bytes_per_token(text_config, 1) // (2 * text_config.num_hidden_layers)
    per_layer = 2 * h * h + 2 * h * kv + 3 * h * inter
    embed = 2 * text_config.vocab_size * h
    return (text_config.num_hidden_layers * per_layer + embed) * dtype_bytes


def plan_memory(
    model: str,
    frames: int,
    frame_size: tuple[int, int],
    question: str = "Describe the video.",
    dtype: str = "bfloat16",
    pts_s: Any = None,
    duration_s: float | None = None,
    pooling: str = "none",
    pooling_params: dict[str, Any] | None = None,
) -> MemoryPlan:
    """Plan ``frames`` frames of ``frame_size`` (h, w) for ``model`` without loading weights.

    ``pts_s``/``duration_s`` are the selected frames' timestamps and the video's length; families
    that write timestamps into the prompt need them for an exact token count (default: 1 fps).
    ``pooling`` counts visual tokens after that pooler (``vlmctx.pooling``), as the engine feeds them.
    """
    from transformers import AutoConfig, AutoProcessor

    from vlmctx.models import ADAPTERS, family_of, resolve_source
    from vlmctx.models.base import Loaded, _load_hint
    from vlmctx.video.types import Frames, VideoInfo

    if frames < 1:
        raise ConfigError("a plan needs at least one frame")
    if dtype not in _DTYPE_BYTES:
        raise ConfigError(f"unknown dtype {dtype!r}; use one of {', '.join(_DTYPE_BYTES)}")
    source = resolve_source(model)
    adapter = ADAPTERS.create(family_of(model))
    adapter.configure(source)
    try:
        config = AutoConfig.from_pretrained(source)
        processor = AutoProcessor.from_pretrained(source)
    except OSError as exc:
        from vlmctx.errors import ModelLoadError

        raise ModelLoadError(_load_hint(source, exc)) from exc
    adapter.prepare_processor(processor)
    h, w = frame_size
    pts = np.arange(frames, dtype=np.float64) if pts_s is None else np.asarray(pts_s, np.float64)
    if pts.shape != (frames,):
        raise ConfigError(f"pts_s must hold {frames} timestamps, got {pts.shape}")
    duration = float(duration_s) if duration_s is not None else float(frames)
    info = VideoInfo("plan", frames, 1.0, duration, w, h, 0, "", False, pts, np.zeros(1, np.int64))
    clip = Frames(np.zeros((frames, h, w, 3), np.uint8), np.arange(frames), pts, "plan", info,
                  sample_fps=frames / max(duration, 1e-6))  # fmt: skip
    loaded = Loaded(model=None, processor=processor, adapter=adapter, source=source)
    inputs = adapter.build_inputs(loaded, question, clip)
    total = int(inputs["input_ids"].shape[1])
    visual = adapter.count_visual(loaded, inputs["input_ids"])
    if pooling != "none":
        after = _pooled_visual(adapter, config, inputs, frames, visual, pooling, pooling_params)
        total, visual = total - visual + after, after
    text = config.get_text_config()
    nbytes = _DTYPE_BYTES[dtype]
    kv = kv_bytes_per_token(text, nbytes) * total
    exact = _weights_from_headers(Path(source)) if Path(source).is_dir() else None
    weights = exact if exact is not None else _weights_from_config(text, nbytes)
    act = total * nbytes * (4 * text.hidden_size + 3 * text.intermediate_size)
    return MemoryPlan(model, frames, (h, w), visual, total, kv, weights, exact is not None,
                      act, weights + kv + act, dtype)  # fmt: skip


def _pooled_visual(
    adapter: Any, config: Any, inputs: Any, frames: int, visual: int, name: str, params: Any
) -> int:
    """Visual tokens after pooling: the adapter's planner term (no weights needed)."""
    from vlmctx.pooling import POOLERS

    pooler = POOLERS.create(name, **dict(params or {}))
    return adapter.pooled_visual_tokens(config, inputs, frames, visual, pooler)


def check_budget(plan: MemoryPlan, max_memory: int | None) -> None:
    """Refuse a plan whose estimated peak exceeds ``max_memory`` bytes, saying what to change."""
    if max_memory is not None and plan.peak_prefill_bytes > max_memory:
        raise BudgetExceededError(
            f"plan needs about {human_bytes(plan.peak_prefill_bytes)} at prefill "
            f"({plan.total_tokens:,} tokens, {plan.visual_tokens:,} visual) but --max-memory is "
            f"{human_bytes(max_memory)}: use fewer frames (--frames), smaller frames "
            "(--max-pixels), or raise --max-memory"
        )
