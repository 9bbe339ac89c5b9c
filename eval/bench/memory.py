"""Peak prefill memory and time vs frame count for each pooler, with the planner's prediction.

A randomly initialised Qwen2-VL whose language model is large enough that its KV cache and
activations dominate (hidden 512, 8 layers, 8 KV heads; tiny vision tower), real Qwen2-VL
processors, frames of 224x224 (64 LLM tokens per temporal patch of 2 frames). Every case runs in a
fresh subprocess; memory is the growth of peak RSS from just before prefill (inputs ready, weights
loaded) to the end of a one-token ``generate`` (prefill + first step), sampled every millisecond
from /proc/self/statm, so weights and pixel buffers are excluded alike for every pooler. The planner's KV-cache prediction is compared with the
KV tensors actually allocated.

    python -m eval.bench.memory            # full run: 32/64/128/256 frames x 4 poolers
    python -m eval.bench.memory --quick    # 8/16 frames, for a smoke test
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

POOLERS = ["none", "uniform", "progressive", "hybrid"]
OUT = Path(__file__).parent / "results"
TEXT = dict(hidden_size=512, intermediate_size=1376, num_hidden_layers=8,
            num_attention_heads=8, num_key_value_heads=8)  # fmt: skip


def _build():
    import torch
    from transformers import AutoProcessor, Qwen2VLConfig, Qwen2VLForConditionalGeneration

    from vlmctx.models import ADAPTERS, Loaded, tiny_path

    src = tiny_path("tiny-qwen2_vl")
    proc = AutoProcessor.from_pretrained(src)
    proc.video_processor.size = {"shortest_edge": 224 * 224, "longest_edge": 224 * 224}
    base = Qwen2VLConfig.from_pretrained(src)
    text = base.text_config.to_dict()
    text.pop("layer_types", None)
    text.update(TEXT, rope_parameters={"rope_type": "default", "rope_theta": 1e6,
                                       "mrope_section": [8, 12, 12]})  # fmt: skip
    cfg = Qwen2VLConfig(text_config=text, vision_config=dict(base.vision_config.to_dict(),
                        hidden_size=512), image_token_id=base.image_token_id,
                        video_token_id=base.video_token_id,
                        vision_start_token_id=base.vision_start_token_id,
                        vision_end_token_id=base.vision_end_token_id)  # fmt: skip
    torch.manual_seed(0)
    model = Qwen2VLForConditionalGeneration(cfg).eval()
    adapter = ADAPTERS.create("qwen2_vl")
    adapter.prepare_processor(proc)
    proc.video_processor.cap_pixels_per_frame = False
    return Loaded(model, proc, adapter, "bench-qwen2_vl"), cfg


def _current_rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize()


class _PeakRSS:
    """Samples the current RSS every millisecond in a thread; ``peak`` is the highest seen.

    (``ru_maxrss`` cannot be used: it is a process-lifetime high-water mark, often set by
    preprocessing before the prefill starts.)"""

    def __enter__(self) -> _PeakRSS:
        import threading

        self.base = _current_rss()
        self.peak = self.base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def _poll(self) -> None:
        while not self._stop.wait(0.001):
            self.peak = max(self.peak, _current_rss())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _current_rss())


def run_case(frames: int, pooler: str) -> dict:
    """One measurement (called in a fresh process)."""
    import numpy as np
    import torch

    from vlmctx.budget import kv_bytes_per_token
    from vlmctx.models.pooled import pooled_generate_kwargs
    from vlmctx.pooling import POOLERS as REG
    from vlmctx.video.types import Frames, VideoInfo

    torch.set_num_threads(2)
    loaded, cfg = _build()
    pts = np.arange(frames, dtype=np.float64)
    info = VideoInfo("bench", frames, 1.0, float(frames), 224, 224, 0, "", False, pts,
                     np.zeros(1, np.int64))  # fmt: skip
    rng = np.random.default_rng(0)
    data = rng.integers(0, 255, (frames, 224, 224, 3), dtype=np.uint8)
    clip = Frames(data, np.arange(frames), pts, "bench", info, sample_fps=1.0)
    inputs = loaded.adapter.build_inputs(loaded, "Describe the video.", clip)
    import gc

    gc.collect()
    with torch.inference_mode(), _PeakRSS() as rss:
        t0 = time.perf_counter()
        kw, before, after = pooled_generate_kwargs(loaded, inputs, REG.create(pooler))
        out = loaded.model.generate(**kw, max_new_tokens=1, do_sample=False,
                                    return_dict_in_generate=True, use_cache=True)  # fmt: skip
        seconds = time.perf_counter() - t0
    peak = rss.peak - rss.base
    cache = out.past_key_values
    kv = sum(t.numel() * t.element_size() for la in cache.layers for t in (la.keys, la.values))
    n = int(kw["inputs_embeds"].shape[1])
    predicted_kv = kv_bytes_per_token(cfg.text_config, 4) * n  # the planner formula
    return dict(frames=frames, pooler=pooler, tokens=n, visual_before=before, visual_after=after,
                peak_delta_bytes=peak, seconds=seconds, kv_measured=kv,
                kv_predicted=predicted_kv)  # fmt: skip


def _table(rows: list[dict]) -> str:
    base = {r["frames"]: r for r in rows if r["pooler"] == "none"}
    lines = ["| frames | pooler | tokens | peak prefill MiB | vs none | seconds | KV MiB measured "
             "| KV MiB planned |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        ratio = r["peak_delta_bytes"] / max(base[r["frames"]]["peak_delta_bytes"], 1)
        lines.append(
            f"| {r['frames']} | {r['pooler']} | {r['tokens']} | {r['peak_delta_bytes'] / 2**20:.0f}"
            f" | {ratio:.2f}x | {r['seconds']:.1f} | {r['kv_measured'] / 2**20:.1f} | "
            f"{r['kv_predicted'] / 2**20:.1f} |"
        )
    return "\n".join(lines)


def _plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for p in POOLERS:
        pts = [(r["frames"], r["peak_delta_bytes"] / 2**20) for r in rows if r["pooler"] == p]
        ax.plot(*zip(*pts, strict=True), marker="o", label=p)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("frames")
    ax.set_ylabel("peak prefill memory growth (MiB)")
    ax.set_title("Qwen2-VL (random, LM 512x8) on CPU")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--case", nargs=2, metavar=("FRAMES", "POOLER"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.case:
        print(json.dumps(run_case(int(args.case[0]), args.case[1])))
        return
    frames = [8, 16] if args.quick else [32, 64, 128, 256]
    rows = []
    for n in frames:
        for p in POOLERS:
            res = subprocess.run([sys.executable, "-m", "eval.bench.memory", "--case", str(n), p],
                                 capture_output=True, text=True, check=True)  # fmt: skip
            rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
            print(rows[-1], flush=True)
    name = "memory_quick" if args.quick else "memory"
    OUT.mkdir(exist_ok=True)
    (OUT / f"{name}.json").write_text(json.dumps(rows, indent=1))
    md = ("Peak prefill memory vs frames per pooler (`python -m eval.bench.memory`), CPU fp32, "
          "each case in a fresh process; memory = peak growth of RSS during encode + prefill "
          "(sampled every ms), KV = bytes of the KV-cache tensors.\n\n"
          + _table(rows) + "\n")  # fmt: skip
    (OUT / f"{name}.md").write_text(md)
    _plot(rows, OUT / f"{name}.png")
    print(md)


if __name__ == "__main__":
    main()
