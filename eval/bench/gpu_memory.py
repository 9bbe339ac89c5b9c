"""GPU: largest frame count that fits for the full Qwen2-VL-7B architecture, with and without pooling.

Random weights (bf16) with the exact Qwen2-VL-7B-Instruct configuration (LM 3584 x 28 layers,
4 KV heads; ViT 32 x 1280), real Qwen2-VL processors, 448x448 frames (128 LLM tokens per frame).
For each pooler the frame count doubles from 64 until prefill runs out of memory (or the next step
would pass --max-frames); it reports the largest that fit, its peak memory (CUDA max allocated),
prefill tokens/s, and the planner's KV prediction next to the measured KV tensors.
Goal (pooling issue): >= 2x the frames with progressive pooling. Budget: < 8 minutes on one GPU.

    python -m eval.bench.gpu_memory [--max-frames 4096] [--out eval/bench/results/gpu_memory.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

QWEN2_VL_7B_TEXT = dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
                        num_attention_heads=28, num_key_value_heads=4, vocab_size=152064,
                        max_position_embeddings=32768,
                        rope_parameters={"rope_type": "default", "rope_theta": 1e6,
                                         "mrope_section": [16, 24, 24]})  # fmt: skip
QWEN2_VL_7B_VISION = dict(depth=32, embed_dim=1280, hidden_size=3584, num_heads=16, mlp_ratio=4)


def build():
    import torch
    from transformers import AutoProcessor, Qwen2VLConfig, Qwen2VLForConditionalGeneration

    from vlmctx.models import ADAPTERS, Loaded, tiny_path

    src = tiny_path("tiny-qwen2_vl")  # processors + tokenizer (special-token ids < vocab)
    proc = AutoProcessor.from_pretrained(src)
    proc.video_processor.size = {"shortest_edge": 448 * 448, "longest_edge": 448 * 448}
    proc.video_processor.cap_pixels_per_frame = False
    tok = proc.tokenizer
    cfg = Qwen2VLConfig(
        text_config=dict(QWEN2_VL_7B_TEXT, eos_token_id=tok.eos_token_id,
                         pad_token_id=tok.pad_token_id, bos_token_id=None),
        vision_config=QWEN2_VL_7B_VISION,
        image_token_id=tok.convert_tokens_to_ids("<|image_pad|>"),
        video_token_id=tok.convert_tokens_to_ids("<|video_pad|>"),
        vision_start_token_id=tok.convert_tokens_to_ids("<|vision_start|>"),
        vision_end_token_id=tok.convert_tokens_to_ids("<|vision_end|>"),
    )  # fmt: skip
    torch.manual_seed(0)
    torch.set_default_dtype(torch.bfloat16)
    with torch.device("cuda"):
        model = Qwen2VLForConditionalGeneration(cfg).eval()
    torch.set_default_dtype(torch.float32)
    return Loaded(model, proc, ADAPTERS.create("qwen2_vl"), "qwen2-vl-7b-random"), cfg


def measure(loaded, cfg, frames: int, pooler: str) -> dict:
    import numpy as np
    import torch

    from vlmctx.budget import kv_bytes_per_token
    from vlmctx.models.pooled import pooled_generate_kwargs
    from vlmctx.pooling import POOLERS
    from vlmctx.video.types import Frames, VideoInfo

    pts = np.arange(frames, dtype=np.float64) / 2
    info = VideoInfo("bench", frames, 2.0, frames / 2, 448, 448, 0, "", False, pts,
                     np.zeros(1, np.int64))  # fmt: skip
    data = np.random.default_rng(0).integers(0, 255, (frames, 448, 448, 3), dtype=np.uint8)
    clip = Frames(data, np.arange(frames), pts, "bench", info, sample_fps=2.0)
    inputs = loaded.adapter.build_inputs(loaded, "Describe the video.", clip).to("cuda")
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    with torch.inference_mode():
        kw, before, after = pooled_generate_kwargs(loaded, inputs, POOLERS.create(pooler))
        out = loaded.model.generate(**kw, max_new_tokens=1, do_sample=False, use_cache=True,
                                    return_dict_in_generate=True)  # fmt: skip
    torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    n = int(kw["inputs_embeds"].shape[1])
    kv = sum(t.numel() * t.element_size() for la in out.past_key_values.layers
             for t in (la.keys, la.values))  # fmt: skip
    return dict(frames=frames, pooler=pooler, tokens=n, visual_before=before, visual_after=after,
                peak_bytes=int(torch.cuda.max_memory_allocated()), seconds=seconds,
                prefill_tokens_per_s=n / seconds, kv_measured=kv,
                kv_planned=kv_bytes_per_token(cfg.text_config, 2) * n)  # fmt: skip


def main() -> None:
    import torch

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--max-frames", type=int, default=4096)
    ap.add_argument("--poolers", default="none,progressive")
    ap.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "gpu_memory.json"
    )
    args = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("gpu_memory needs a CUDA GPU")
    loaded, cfg = build()
    rows, best = [], {}
    for pooler in args.poolers.split(","):
        frames = 64
        while frames <= args.max_frames:
            try:
                row = measure(loaded, cfg, frames, pooler)
            except torch.OutOfMemoryError:
                print(f"{pooler}: {frames} frames: out of memory", flush=True)
                break
            rows.append(row)
            best[pooler] = row
            print(json.dumps(row), flush=True)
            frames *= 2
    summary = {p: {"max_frames": r["frames"], "peak_GiB": r["peak_bytes"] / 2**30,
                   "prefill_tokens_per_s": r["prefill_tokens_per_s"]} for p, r in best.items()}  # fmt: skip
    if "none" in best and "progressive" in best:
        summary["progressive_vs_none_frames"] = (
            best["progressive"]["frames"] / best["none"]["frames"]
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"device": torch.cuda.get_device_name(), "rows": rows,
                                    "summary": summary}, indent=1))  # fmt: skip
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
