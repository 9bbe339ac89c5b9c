"""GPU: largest frame count that fits for the full Qwen2-VL-7B architecture, with and without pooling.

Random weights (bf16) with the exact Qwen2-VL-7B-Instruct configuration (LM 3584 x 28 layers,
28 query / 4 KV heads, MLP 18944; ViT 32 x 1280), attention implementation ``sdpa`` (recorded per
row), real Qwen2-VL processors, 448x448 frames (128 LLM tokens per frame). Frame counts double from
``--start`` for every pooler side by side (ascending, so the cheap cases always run) until a case
runs out of memory, passes ``--max-frames``, or would overrun ``--time-budget`` (the next case is
predicted to take 4x the last one: attention is quadratic); the processor runs once per frame
count, its CPU output shared by the poolers. Each row: peak memory of the vision
stage (encode + pool, pixel buffers on the GPU) and of the LM prefill (pixel buffers freed), both
CUDA max-allocated including the weights; prefill tokens/s (LM stage only, one-token
``generate``); KV tensors measured vs the planner's formula. The summary gives, per pooler, the
largest frame count that fitted and why the search stopped: the frames ratio is exact (at
power-of-two granularity) only where both searches stopped on memory.
Goal (pooling issue): >= 2x the frames with progressive pooling. Budget: < 8 minutes on one GPU.

    python -m vlmctx_eval.bench.gpu_memory [--max-frames 8192] [--time-budget 400]
    python -m vlmctx_eval.bench.gpu_memory --dry-run  # CPU, shrunk config: every code path;
                                                     # --capacity-gib emulates a device limit
"""

from __future__ import annotations

import argparse
import gc
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"
QWEN2_VL_7B_TEXT = dict(
    hidden_size=3584,
    intermediate_size=18944,
    num_hidden_layers=28,
    num_attention_heads=28,
    num_key_value_heads=4,
    vocab_size=152064,
    max_position_embeddings=32768,
    rms_norm_eps=1e-6,
    tie_word_embeddings=False,
    rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": [16, 24, 24]},
)
QWEN2_VL_7B_VISION = dict(depth=32, embed_dim=1280, hidden_size=3584, num_heads=16, mlp_ratio=4)
# --dry-run: same architecture, shrunk (head_dim 32 -> mrope 4+6+6 pairs); vocab kept.
DRY_TEXT = dict(
    QWEN2_VL_7B_TEXT,
    hidden_size=128,
    intermediate_size=256,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": [4, 6, 6]},
)
DRY_VISION = dict(depth=2, embed_dim=64, hidden_size=128, num_heads=2, mlp_ratio=2)
GIB = 2**30


def build(text: dict, vision: dict, device: str, side: int) -> tuple[Any, Any]:
    """Random bf16 Qwen2-VL of the given shape on ``device``, tiny-family processors/tokenizer
    (its special-token ids are < the vocab); returns (Loaded, config)."""
    import torch
    from transformers import AutoProcessor, Qwen2VLConfig, Qwen2VLForConditionalGeneration

    from vlmctx.models import ADAPTERS, Loaded, tiny_path

    proc = AutoProcessor.from_pretrained(tiny_path("tiny-qwen2_vl"))
    proc.video_processor.size = {"shortest_edge": side * side, "longest_edge": side * side}
    tok = proc.tokenizer
    cfg = Qwen2VLConfig(
        text_config=dict(
            text, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, bos_token_id=None
        ),
        vision_config=vision,
        image_token_id=tok.convert_tokens_to_ids("<|image_pad|>"),
        video_token_id=tok.convert_tokens_to_ids("<|video_pad|>"),
        vision_start_token_id=tok.convert_tokens_to_ids("<|vision_start|>"),
        vision_end_token_id=tok.convert_tokens_to_ids("<|vision_end|>"),
        attn_implementation="sdpa",
    )
    torch.manual_seed(0)
    torch.set_default_dtype(torch.bfloat16)
    try:
        with torch.device(device):
            model = Qwen2VLForConditionalGeneration(cfg).eval()
    finally:
        torch.set_default_dtype(torch.float32)
    adapter = ADAPTERS.create("qwen2_vl")
    adapter.prompt.prepare_processor(proc)
    proc.video_processor.cap_pixels_per_frame = False
    return Loaded(model, proc, adapter, "qwen2-vl-7b-random"), cfg


def _nbytes(tensors: Any) -> int:
    import torch

    return sum(t.numel() * t.element_size() for t in tensors if isinstance(t, torch.Tensor))


class _Stage:
    """Peak memory of one stage, weights included: CUDA max-allocated on a GPU; on the CPU
    (dry run) ``resident`` bytes (weights + inputs) + the live-bytes peak of ``memory.LiveBytes``."""

    def __init__(self, device: str, resident: int) -> None:
        self.device, self.resident, self.peak, self.seconds = device, resident, 0, 0.0

    def __enter__(self) -> _Stage:
        import torch

        if self.device == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        else:
            from vlmctx_eval.bench.memory import LiveBytes

            self._live = LiveBytes().__enter__()
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        import torch

        if self.device == "cuda":
            torch.cuda.synchronize()
            self.seconds = time.perf_counter() - self._t0
            self.peak = int(torch.cuda.max_memory_allocated())
        else:
            self.seconds = time.perf_counter() - self._t0
            self._live.__exit__(*exc)
            self.peak = self.resident + self._live.peak


def _clip(frames: int, side: int) -> Any:
    """``frames`` copies of one random frame (content does not change memory or time)."""
    import numpy as np

    from vlmctx.video.types import Frames, VideoInfo

    pts = np.arange(frames, dtype=np.float64) / 2
    info = VideoInfo(
        "bench", frames, 2.0, frames / 2, side, side, 0, "", False, pts, np.zeros(1, np.int64)
    )
    one = np.random.default_rng(0).integers(0, 255, (1, side, side, 3), dtype=np.uint8)
    return Frames(
        np.repeat(one, frames, axis=0), np.arange(frames), pts, "bench", info, sample_fps=2.0
    )


def prepare(loaded: Any, frames: int, side: int) -> tuple[Any, float]:
    """Processor inputs (on the CPU) for ``frames`` frames, and the seconds they took."""
    t0 = time.perf_counter()
    inputs = loaded.adapter.prompt.build_inputs(loaded, "Describe the video.", _clip(frames, side))
    return inputs, time.perf_counter() - t0


def measure(loaded: Any, cfg: Any, inputs: Any, pooler: str, device: str, where: dict) -> dict:
    """One case on prepared ``inputs``; ``where['stage']`` says which stage was running if it
    raises (out of memory)."""
    import torch

    from vlmctx.models.pooled import pooled_generate_kwargs
    from vlmctx.planner import kv_bytes_per_token
    from vlmctx.pooling import POOLERS

    where["stage"] = "to-device"
    inputs = inputs.to(device)
    weights = _nbytes([*loaded.model.parameters(), *loaded.model.buffers()])
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()
    where["stage"] = "vision"
    with torch.inference_mode(), _Stage(device, weights + _nbytes(inputs.values())) as vis:
        kw, before, after = pooled_generate_kwargs(loaded, inputs, POOLERS.create(pooler))
    del inputs
    gc.collect()
    where["stage"] = "lm"
    with torch.inference_mode(), _Stage(device, weights + _nbytes(kw.values())) as lm:
        out = loaded.model.generate(
            **kw, max_new_tokens=1, do_sample=False, use_cache=True, return_dict_in_generate=True
        )
    cache = out.cache if hasattr(out, "cache") else out.past_key_values
    kv = _nbytes([t for la in cache.layers for t in (la.keys, la.values)])
    n = int(kw["inputs_embeds"].shape[1])
    del out, cache, kw
    return dict(
        pooler=pooler,
        attn=loaded.model.config.text_config._attn_implementation,
        tokens=n,
        visual_before=before,
        visual_after=after,
        weights_bytes=weights,
        vision_peak_bytes=vis.peak,
        lm_peak_bytes=lm.peak,
        peak_bytes=max(vis.peak, lm.peak),
        vision_s=vis.seconds,
        peak_stage="vision" if vis.peak > lm.peak else "lm",
        prefill_s=lm.seconds,
        prefill_tokens_per_s=n / max(lm.seconds, 1e-9),
        kv_measured=kv,
        kv_planned=kv_bytes_per_token(cfg.text_config, 2) * n,
    )


def search(
    try_case: Callable[[int, str], dict],
    poolers: list[str],
    start: int,
    max_frames: int,
    deadline: float,
    capacity: int | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[list[dict], dict[str, dict]]:
    """Double the frames from ``start`` for every pooler side by side (ascending).

    ``try_case(frames, pooler)`` returns a row, or a row with ``oom_stage`` set when it ran out of
    memory. A pooler stops at its first case that does not fit (OOM, or ``peak_bytes`` over
    ``capacity``), past ``max_frames``, or when 4x its last case's time would pass ``deadline``.
    Returns all rows and, per pooler, ``{"best": row or None, "stopped": reason}``."""
    rows: list[dict] = []
    state: dict[str, dict] = {p: {"best": None, "stopped": None, "last_s": 0.0} for p in poolers}
    frames = start
    while any(s["stopped"] is None for s in state.values()):
        for p in poolers:
            s = state[p]
            if s["stopped"] is not None:
                continue
            if frames > max_frames:
                s["stopped"] = f"max-frames ({max_frames})"
                continue
            if clock() + 4 * s["last_s"] > deadline:
                s["stopped"] = f"time budget (next: {frames} frames)"
                continue
            t0 = clock()
            row = try_case(frames, p)
            s["last_s"] = clock() - t0
            if row.get("oom_stage") is None and capacity is not None:
                row["fits"] = row["peak_bytes"] <= capacity
            row.setdefault("fits", row.get("oom_stage") is None)
            rows.append(row)
            if row["fits"]:
                s["best"] = row
            else:
                stage = row.get("oom_stage") or "over --capacity-gib"
                s["stopped"] = f"out of memory at {frames} frames ({stage})"
        frames *= 2
    return rows, {p: {"best": s["best"], "stopped": s["stopped"]} for p, s in state.items()}


def _summary(result: dict[str, dict]) -> dict:
    out: dict[str, Any] = {}
    for p, r in result.items():
        b = r["best"]
        out[p] = {
            "stopped": r["stopped"],
            "max_frames": b and b["frames"],
            "tokens": b and b["tokens"],
            "peak_GiB": b and b["peak_bytes"] / GIB,
            "peak_stage": b and b["peak_stage"],
            "prefill_tokens_per_s": b and b["prefill_tokens_per_s"],
        }
    n, p = result.get("none"), result.get("progressive")
    if n and p and n["best"] and p["best"]:
        exact = all(r["stopped"].startswith("out of memory") for r in (n, p))
        out["progressive_vs_none_frames"] = p["best"]["frames"] / n["best"]["frames"]
        out["ratio_is_exact"] = exact  # else a bound: a search stopped on time or --max-frames
    return out


def _args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--max-frames", type=int, default=None, help="default 8192 (dry run: 16)")
    ap.add_argument("--start", type=int, default=None, help="first frame count (default 64; 4)")
    ap.add_argument("--poolers", default="none,progressive")
    ap.add_argument(
        "--time-budget",
        type=float,
        default=400.0,
        help="seconds from start after which no new case begins (default 400)",
    )
    ap.add_argument("--dry-run", action="store_true", help="CPU, shrunk config, 112x112 frames")
    ap.add_argument(
        "--capacity-gib",
        type=float,
        default=None,
        help="treat peaks above this as out of memory (emulates a smaller device)",
    )
    ap.add_argument("--out", type=Path, default=None)
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    import torch

    t_start = time.monotonic()
    a = _args(argv)
    device, side = ("cpu", 112) if a.dry_run else ("cuda", 448)
    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("gpu_memory needs a CUDA GPU; use --dry-run to check it on the CPU")
    text, vision = (DRY_TEXT, DRY_VISION) if a.dry_run else (QWEN2_VL_7B_TEXT, QWEN2_VL_7B_VISION)
    start = a.start or (4 if a.dry_run else 64)
    max_frames = a.max_frames or (16 if a.dry_run else 8192)
    dry_out = Path(tempfile.gettempdir()) / "gpu_memory_dry_run.json"  # not a result to commit
    out = a.out or (dry_out if a.dry_run else RESULTS / "gpu_memory.json")
    loaded, cfg = build(text, vision, device, side)
    build_s = time.monotonic() - t_start

    prepared: dict[int, tuple[Any, float]] = {}  # one frame count at a time, shared by poolers

    def try_case(frames: int, pooler: str) -> dict:
        if frames not in prepared:
            prepared.clear()
            prepared[frames] = prepare(loaded, frames, side)
        inputs, prep_s = prepared[frames]
        row: dict[str, Any] = dict(frames=frames, pooler=pooler, preprocess_s=prep_s)
        where: dict = {}
        try:
            row.update(measure(loaded, cfg, inputs, pooler, device, where))
        except torch.OutOfMemoryError:
            row["oom_stage"] = where.get("stage")
        gc.collect()
        if device == "cuda":
            torch.cuda.empty_cache()
        print(json.dumps(row), flush=True)
        return row

    warm = try_case(max(start // 8, 2), "none")  # CUDA/cuBLAS init; not recorded
    capacity = int(a.capacity_gib * GIB) if a.capacity_gib else None
    rows, result = search(
        try_case, a.poolers.split(","), start, max_frames, t_start + a.time_budget, capacity
    )
    device_name = torch.cuda.get_device_name() if device == "cuda" else "cpu (dry run)"
    report = {
        "device": device_name,
        "dry_run": a.dry_run,
        "frame_side": side,
        "build_s": build_s,
        "warmup": warm,
        "total_s": time.monotonic() - t_start,
        "rows": rows,
        "summary": _summary(result),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    print(json.dumps(report["summary"], indent=1))
    return report


if __name__ == "__main__":
    main()
