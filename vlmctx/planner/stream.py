"""Memory plan of an endless stream: what each of the streaming session's three tiers costs per
hour of video on a model, and how long a stream each host budget holds before the compact tier
takes over (``vlmctx plan --stream 10h --fps 1 --model <hub id>``; offline from the cards).

Per frame at ``fps``, with the model's own processor on a frame of the planned size:

- device: ``budget`` tokens x key/value bytes per token, whatever the stream's length;
- host key/value tier: visual tokens per frame x key/value bytes per token (ReKV's offload);
- compact tier: the frame at the model's input size (uint8, what re-encoding needs) plus the
  block's key summary (layers x kv_heads x head_dim float32 per chunk) and its index/time;
- a block in the host tier also keeps its compact part, so it costs both.

With ``host_budget`` B and ``compact_fraction`` f (``vlmctx/streaming/tiers.py``): the host
key/value tier holds ``(1 - f) B / (kv + compact per frame)`` frames of stream behind the device
window; older frames live in the compact tier, which holds ``f B / compact per frame`` frames
before it starts merging its most similar neighbours (bounded from then on).
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from typing import Any

from vlmctx.errors import ConfigError

_STREAM = re.compile(r"^(?:(\d+)x(\d+)@)?(\d+(?:\.\d+)?)([smh]?)$")


def parse_stream(text: str, default_size: tuple[int, int] = (1280, 720)) -> tuple[int, int, float]:
    """``10h`` or ``1920x1080@10h`` -> (width, height, seconds)."""
    m = _STREAM.match(text.strip())
    if m is None:
        raise ConfigError(f"--stream {text!r}: give a length like 10h, 90m or 1920x1080@10h")
    w, h = (int(m[1]), int(m[2])) if m[1] else default_size
    seconds = float(m[3]) * {"": 1, "s": 1, "m": 60, "h": 3600}[m[4]]
    if w <= 0 or h <= 0 or seconds <= 0:
        raise ConfigError(f"--stream {text!r} needs a positive frame size and length")
    return w, h, seconds


@dataclass
class StreamPlan:
    """Bytes per tier of a stream and what each host budget holds (all sizes in bytes)."""

    model: str
    dtype: str
    fps: float
    frame_size: tuple[int, int]  # (width, height) of the frames read (after max_pixels)
    input_size: tuple[int, int]  # (width, height) the model sees
    chunk_frames: int
    stream_s: float
    tokens_per_frame: float
    kv_per_token: int
    device_budget_tokens: int
    device_kv: int
    window_s: float  # stream time the device window holds
    host_kv_per_hour: float
    compact_per_hour: float
    full_context_kv: float  # what keeping the whole stream's key/values would take
    budgets: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def plan_stream(
    planner: Any,
    stream: str,
    fps: float,
    *,
    budget_tokens: int = 8192,
    retrieve_tokens: int | None = None,
    host_budgets: list[int],
    chunk_frames: int = 2,
    compact_fraction: float = 0.5,
    dtype: str = "bfloat16",
    max_pixels: int | None = 448 * 448,
) -> StreamPlan:
    """The memory plan of ``stream`` (``10h`` or ``WxH@10h``) at ``fps`` on ``planner``'s model,
    frames read at most ``max_pixels`` (aspect kept, as ``vlmctx live`` reads them)."""
    from vlmctx.planner.memory_plan import _DTYPE_BYTES

    if fps <= 0:
        raise ConfigError(f"--fps must be positive for a stream plan, got {fps}")
    if chunk_frames < 1:
        raise ConfigError("--chunk-frames must be at least 1")
    w, h, seconds = parse_stream(stream)
    if (
        max_pixels is not None and h * w > max_pixels
    ):  # the reader's rule (video.reader.output_size)
        scale = math.sqrt(max_pixels / (h * w))
        h, w = max(1, math.floor(h * scale)), max(1, math.floor(w * scale))
    count = planner.count(chunk_frames, (h, w))
    tokens_per_frame = count.visual / chunk_frames
    kv_tok, _ = planner.per_token(_DTYPE_BYTES[dtype])
    in_w, in_h = _input_size(planner, count.inputs, (w, h))
    text = planner.config.get_text_config()
    heads = text.num_attention_heads
    kv_heads = getattr(text, "num_key_value_heads", None) or heads
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // heads
    summary = text.num_hidden_layers * kv_heads * head_dim * 4  # float32, per block
    compact_frame = in_w * in_h * 3 + summary / chunk_frames + 16
    kv_frame = tokens_per_frame * kv_tok
    per_hour = fps * 3600
    # the session's rule: half of the budget (less the few sink tokens) kept for retrieval
    window_tokens = budget_tokens - (
        retrieve_tokens if retrieve_tokens is not None else budget_tokens // 2
    )
    rows = []
    for b in host_budgets:
        kv_frames = (1 - compact_fraction) * b / (kv_frame + compact_frame)
        compact_frames = compact_fraction * b / compact_frame
        rows.append({
            "host_budget": b,
            "host_kv_s": kv_frames / fps,
            "compact_s": compact_frames / fps,
            "merging_after_s": window_tokens / tokens_per_frame / fps + (kv_frames + compact_frames) / fps,
        })  # fmt: skip
    return StreamPlan(
        planner.model, dtype, fps, (w, h), (in_w, in_h), chunk_frames, seconds,
        tokens_per_frame, kv_tok, budget_tokens, budget_tokens * kv_tok,
        window_tokens / tokens_per_frame / fps, kv_frame * per_hour, compact_frame * per_hour,
        kv_frame * fps * seconds, rows,
    )  # fmt: skip


def _input_size(planner: Any, inputs: Any, source: tuple[int, int]) -> tuple[int, int]:
    """(width, height) of a frame as the model sees it: the processor's grid x patch size
    (Qwen families), else the source size (an upper bound for the compact tier)."""
    grid = inputs.get("video_grid_thw") if hasattr(inputs, "get") else None
    vp = getattr(planner.loaded.processor, "video_processor", None)
    patch = getattr(vp, "patch_size", None)
    if grid is None or patch is None:
        return source
    return int(grid[0][2]) * patch, int(grid[0][1]) * patch


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.0f} s"


def stream_table(p: StreamPlan) -> str:
    """The plan as text: per-tier bytes per hour, then one line per host budget."""
    from vlmctx.units import human_bytes

    w, h = p.frame_size
    iw, ih = p.input_size
    lines = [
        f"stream plan: {p.model}, {p.dtype}, {w}x{h} at {p.fps:g} fps "
        f"(model input {iw}x{ih}, {p.tokens_per_frame:g} visual tokens per frame, "
        f"{p.chunk_frames} frames per chunk), {_duration(p.stream_s)}",
        f"  key/values per token         {human_bytes(p.kv_per_token)}",
        f"  device (budget {p.device_budget_tokens:,} tokens)  {human_bytes(p.device_kv)}, "
        f"flat; recent window ~{_duration(p.window_s)} of stream",
        f"  host key/value tier          {human_bytes(p.host_kv_per_hour)} per hour of stream",
        f"  compact tier                 {human_bytes(p.compact_per_hour)} per hour of stream "
        "(frames at input size + key summaries)",
        f"  full context, whole stream   {human_bytes(p.full_context_kv)} of key/values",
        "",
        "  host budget | host KV tier holds | then compact tier holds | merging starts after",
    ]
    for r in p.budgets:
        lines.append(
            f"  {human_bytes(r['host_budget']):>11} | {_duration(r['host_kv_s']):>18} | "
            f"{_duration(r['compact_s']):>23} | {_duration(r['merging_after_s']):>20}"
        )
    lines.append(
        "  (host budget split half/half between the key/value and compact tiers; past 'merging "
        "starts after' the compact tier merges its most similar neighbours and stays bounded)"
    )
    return "\n".join(lines)
