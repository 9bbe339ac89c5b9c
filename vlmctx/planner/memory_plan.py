"""Tokens and memory of a plan (model x frames x resolution), computed before any weight is loaded.

The visual-token count is exact: the model's own processor is run on a zero-filled clip of the
planned size with the same prompt ``VideoLM.ask`` would build (processors are cheap; weights are
not loaded). The KV cache follows from the text config:
``2 (K and V) x layers x kv_heads x head_dim x tokens x bytes per element``; a hybrid model's
linear-attention layers add a fixed-size state instead (the adapter's ``fixed_state_bytes``:
Qwen3.5's conv + recurrent state). Weights are read from
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

from vlmctx.errors import ConfigError, MemoryLimitError
from vlmctx.units import human_bytes, parse_bytes

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
    note: str = ""  # how the figures were obtained, where not exact (card plans)
    state_bytes: int = 0  # fixed-size per-sequence state (linear-attention layers), in the peak

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def table(self) -> str:
        rows = [
            ("model", self.model),
            ("frames", f"{self.frames} at {self.frame_size[0]}x{self.frame_size[1]}"),
            ("visual tokens", f"{self.visual_tokens:,}"),
            ("total input tokens", f"{self.total_tokens:,}"),
            ("KV cache", f"{human_bytes(self.kv_cache_bytes)} ({self.dtype})"),
            *(
                [("linear-attention state", human_bytes(self.state_bytes))]
                if self.state_bytes
                else []
            ),
            (
                "weights",
                human_bytes(self.weight_bytes)
                + ("" if self.weights_exact or self.note else " (estimated from config)"),
            ),
            ("activations (prefill)", human_bytes(self.activation_bytes)),
            ("peak prefill (est.)", human_bytes(self.peak_prefill_bytes)),
        ]
        if self.note:
            rows.append(("note", self.note))
        width = max(len(k) for k, _ in rows)
        return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def kv_bytes_per_token(text_config: Any, dtype_bytes: int) -> int:
    """K and V of every attention layer for one token. Layers that ``layer_types`` marks as
    linear attention (Qwen3.5's Gated DeltaNet) keep a fixed-size state, not a per-token cache:
    not counted here, but planned by the adapter's ``fixed_state_bytes``."""
    heads = text_config.num_attention_heads
    kv_heads = getattr(text_config, "num_key_value_heads", None) or heads
    head_dim = getattr(text_config, "head_dim", None) or text_config.hidden_size // heads
    types = getattr(text_config, "layer_types", None)
    layers = text_config.num_hidden_layers
    if types:
        layers = sum(1 for t in types[:layers] if t != "linear_attention")
    return 2 * layers * kv_heads * head_dim * dtype_bytes


def mlp_width(text_config: Any) -> int:
    """Channels of one token's MLP: ``intermediate_size`` for a dense model; for a mixture of
    experts (Qwen3.5-MoE, no ``intermediate_size``) the routed experts' widths plus the shared
    expert's, ``experts_per_token x moe_intermediate + shared`` (an estimate of the widest
    activation per token: every routed expert's gate, up and product for its tokens)."""
    width = getattr(text_config, "intermediate_size", None)
    if width:
        return int(width)
    routed = text_config.num_experts_per_tok * text_config.moe_intermediate_size
    return int(routed + (getattr(text_config, "shared_expert_intermediate_size", 0) or 0))


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
    heads = text_config.num_attention_heads
    kv_heads = getattr(text_config, "num_key_value_heads", None) or heads
    kv = kv_heads * (getattr(text_config, "head_dim", None) or text_config.hidden_size // heads)
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
    A hub id with an architecture card (``vlmctx.models.cards``) is planned from the card, with no
    hub access: see :class:`Planner`.
    """
    if frames < 1:
        raise ConfigError("a plan needs at least one frame")
    _check_dtype(dtype)
    planner = Planner(model)
    count = planner.count(frames, frame_size, question, pts_s, duration_s)
    return planner.plan(count, pooling, pooling_params, dtype)


def _check_dtype(dtype: str) -> None:
    if dtype not in _DTYPE_BYTES:
        raise ConfigError(f"unknown dtype {dtype!r}; use one of {', '.join(_DTYPE_BYTES)}")


@dataclass(frozen=True)
class TokenCount:
    """Tokens of one prompt with ``frames`` frames, before pooling (``inputs``: processor output)."""

    frames: int
    frame_size: tuple[int, int]
    total: int
    visual: int
    inputs: Any = None


class Planner:
    """What planning one model needs, built once: adapter, config, processor, weights.

    Local folders, ``tiny-*`` and shipped checkpoints are read from disk (weights exact from the
    safetensors headers). A hub id with an architecture card is planned from the card: its real
    config, the family's real processor with the card's settings and a local byte-level tokenizer
    (visual tokens exact; text counted one token per byte, an upper bound), weights = the card's
    parameter count x dtype. Other hub ids are read through ``from_pretrained`` (cache or hub).
    """

    def __init__(self, model: str) -> None:
        from vlmctx.models import ADAPTERS, family_of, resolve_source
        from vlmctx.models.cards import find
        from vlmctx.models.contract import Loaded
        from vlmctx.models.names import load_hint

        self.model = model
        source = resolve_source(model)
        self.card = None if Path(source).exists() else find(model)
        self.text_note = ""
        if self.card is not None:
            if self.card.family not in ADAPTERS:
                raise ConfigError(
                    f"{model} has a card of family {self.card.family!r}, but no adapter for it is "
                    f"installed; supported families: {', '.join(ADAPTERS.names())}"
                )
            adapter = ADAPTERS.create(self.card.family)
            config, processor = self.card.hf_config(), self.card.build_processor()
            self.text_note = "text counted one token per byte (upper bound)"
        else:
            from transformers import AutoConfig, AutoProcessor

            adapter = ADAPTERS.create(family_of(model))
            adapter.configure(source)
            try:
                config = AutoConfig.from_pretrained(source)
                processor = AutoProcessor.from_pretrained(source)
            except OSError as exc:
                from vlmctx.errors import ModelLoadError

                raise ModelLoadError(load_hint(source, exc)) from exc
        adapter.prompt.prepare_processor(processor)
        self.adapter, self.config, self.source = adapter, config, source
        self.loaded = Loaded(model=None, processor=processor, adapter=adapter, source=source)

    def count(
        self,
        frames: int,
        frame_size: tuple[int, int],
        question: str = "Describe the video.",
        pts_s: Any = None,
        duration_s: float | None = None,
    ) -> TokenCount:
        """Run the processor on a zero-filled clip of the planned size (exact token counts)."""
        from vlmctx.video.types import Frames, VideoInfo

        if frames < 1:
            raise ConfigError("a plan needs at least one frame")
        h, w = frame_size
        pts = (
            np.arange(frames, dtype=np.float64) if pts_s is None else np.asarray(pts_s, np.float64)
        )
        if pts.shape != (frames,):
            raise ConfigError(f"pts_s must hold {frames} timestamps, got {pts.shape}")
        duration = float(duration_s) if duration_s is not None else float(frames)
        info = VideoInfo(
            "plan", frames, 1.0, duration, w, h, 0, "", False, pts, np.zeros(1, np.int64)
        )
        clip = Frames(
            np.zeros((frames, h, w, 3), np.uint8),
            np.arange(frames),
            pts,
            "plan",
            info,
            sample_fps=frames / max(duration, 1e-6),
        )
        inputs = self.adapter.prompt.build_inputs(self.loaded, question, clip)
        total = int(inputs["input_ids"].shape[1])
        visual = self.adapter.tokens.count_visual(self.loaded, inputs["input_ids"])
        return TokenCount(frames, (h, w), total, visual, inputs)

    def after_pooling(self, count: TokenCount, pooling: str, params: Any = None) -> tuple[int, int]:
        """(total, visual) tokens after ``pooling``."""
        if pooling == "none":
            return count.total, count.visual
        after = _pooled_visual(
            self.adapter, self.config, count.inputs, count.frames, count.visual, pooling, params
        )
        return count.total - count.visual + after, after

    def weights(self, nbytes: int) -> tuple[int, bool]:
        """(weight bytes, exact?)."""
        if self.card is not None:
            return self.card.parameters * nbytes, False
        exact = _weights_from_headers(Path(self.source)) if Path(self.source).is_dir() else None
        if exact is not None:
            return exact, True
        return _weights_from_config(self.config.get_text_config(), nbytes), False

    def per_token(self, nbytes: int) -> tuple[int, int]:
        """(KV bytes, prefill activation bytes) per token."""
        text = self.config.get_text_config()
        act = nbytes * (4 * text.hidden_size + 3 * mlp_width(text))
        return kv_bytes_per_token(text, nbytes), act

    def state_bytes(self, nbytes: int) -> int:
        """Fixed-size per-sequence state (batch 1) beside the KV cache: the adapter's term."""
        return self.adapter.planner.fixed_state_bytes(self.config.get_text_config(), nbytes)

    def plan(self, count: TokenCount, pooling: str, params: Any, dtype: str) -> MemoryPlan:
        nbytes = _DTYPE_BYTES[dtype]
        total, visual = self.after_pooling(count, pooling, params)
        kv_tok, act_tok = self.per_token(nbytes)
        weights, exact = self.weights(nbytes)
        kv, act, state = kv_tok * total, act_tok * total, self.state_bytes(nbytes)
        note = self.text_note
        if self.card is not None:
            note = f"weights from the card's {self.card.parameters:,} parameters; {note}"
        return MemoryPlan(
            self.model,
            count.frames,
            count.frame_size,
            visual,
            total,
            kv,
            weights,
            exact,
            act,
            weights + kv + state + act,
            dtype,
            note,
            state,
        )


def _pooled_visual(
    adapter: Any, config: Any, inputs: Any, frames: int, visual: int, name: str, params: Any
) -> int:
    """Visual tokens after pooling: the adapter's planner term (no weights needed)."""
    from vlmctx.pooling import POOLERS

    pooler = POOLERS.create(name, **dict(params or {}))
    return adapter.planner.pooled_visual_tokens(config, inputs, frames, visual, pooler)


def check_memory_limit(plan: MemoryPlan, max_memory: int | None) -> None:
    """Refuse a plan whose estimated peak exceeds ``max_memory`` bytes, saying what to change."""
    if max_memory is not None and plan.peak_prefill_bytes > max_memory:
        raise MemoryLimitError(
            f"plan needs about {human_bytes(plan.peak_prefill_bytes)} at prefill "
            f"({plan.total_tokens:,} tokens, {plan.visual_tokens:,} visual) but --max-memory is "
            f"{human_bytes(max_memory)}: use fewer frames (--frames), smaller frames "
            "(--max-pixels), or raise --max-memory"
        )


# ---- fit table: the most frames that fit each memory size --------------------------------------
FIT_STEP = 8  # frames are counted in multiples of 8: whole temporal patches and pooling groups


@dataclass(frozen=True)
class FitRow:
    """Per pooler: tokens(n) = ``base + per_frame * n`` (n a multiple of FIT_STEP) and, per
    memory size, the most frames that fit (``None``: the weights alone do not fit)."""

    pooling: str
    base: float
    per_frame: float
    frames: tuple[int | None, ...]


def fit_table(
    planner: Planner,
    frame_size: tuple[int, int],
    duration_s: float,
    memory_sizes: list[int],
    dtype: str,
    question: str = "Describe the video.",
    max_frames: int | None = None,
    poolers: list[str] | None = None,
) -> list[FitRow]:
    """The most frames of ``frame_size`` spread over ``duration_s`` that fit in each of ``memory_sizes``.

    Tokens are counted exactly by the processor at FIT_STEP and 2 x FIT_STEP frames (timestamps
    spread over the whole video, so their text is as long as at larger counts) and extended
    linearly: every supported processor gives each frame (or temporal patch) a fixed token grid,
    and poolers act per group of frames. Processors that shrink frames when a video is very long
    (Qwen's total pixel cap) make the extension an over-count, i.e. conservative. Memory per
    token (KV cache + prefill activations) is the planner's; ``max_frames`` caps the answer (the
    video's frame count).
    """
    from vlmctx.pooling import POOLERS

    _check_dtype(dtype)
    nbytes = _DTYPE_BYTES[dtype]
    kv_tok, act_tok = planner.per_token(nbytes)
    weights, _ = planner.weights(nbytes)
    weights += planner.state_bytes(nbytes)  # fixed-size state: memory that frames cannot use
    counts = []
    for n in (FIT_STEP, 2 * FIT_STEP):
        pts = np.linspace(0.0, max(duration_s - 1e-3, 0.0), n)
        counts.append(planner.count(n, frame_size, question, pts, duration_s))
    rows = []
    names = poolers or sorted(POOLERS.names(), key=lambda n: (n != "none", n))
    for name in names:
        (t1, _), (t2, _) = (planner.after_pooling(c, name) for c in counts)
        per_frame = (t2 - t1) / FIT_STEP
        base = t1 - per_frame * FIT_STEP
        fits = []
        for size in memory_sizes:
            room = (size - weights) // (kv_tok + act_tok)  # tokens that fit beside the weights
            if room < base + per_frame * FIT_STEP:
                fits.append(None if size < weights else 0)
                continue
            n = int((room - base) // per_frame) // FIT_STEP * FIT_STEP
            fits.append(n if max_frames is None else min(n, max_frames))
        rows.append(FitRow(name, base, per_frame, tuple(fits)))
    return rows


def parse_memory_sizes(text: str) -> list[int]:
    """'24GiB,80GiB' -> bytes, each positive."""
    out = [parse_bytes(part) for part in text.split(",") if part.strip()]
    if not out or any(b <= 0 for b in out):
        raise ConfigError(f"--fit needs positive memory sizes such as 24GiB,80GiB; got {text!r}")
    return out
