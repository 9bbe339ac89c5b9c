"""Qwen2.5-VL adapter (arXiv 2502.13923): M-RoPE with absolute-time-aligned temporal ids.

The temporal position of each temporal patch is ``t * tokens_per_second * second_per_grid_t``; the
processor derives ``second_per_grid_ts`` from the sampled fps we pass in the video metadata, so
real timestamps reach the model through positions rather than text.

Visual window (VCWE's default): 32768, the sequence length of Qwen2.5-VL's long-context
pre-training stage (arXiv 2502.13923, Table 2); no per-video cap is stated, so this is an upper
bound.
"""

from __future__ import annotations

from typing import Any

from vlmctx.models.base import ADAPTERS, Loaded
from vlmctx.models.qwen2_vl import Qwen2VLAdapter
from vlmctx.models.tiny import text_config


@ADAPTERS.register("qwen2_5_vl", summary="Qwen2.5-VL (time-aligned M-RoPE; Qwen2.5-VL-3B)")
class Qwen25VLAdapter(Qwen2VLAdapter):
    family = "qwen2_5_vl"
    model_types = ("qwen2_5_vl",)
    default_checkpoint = "Qwen/Qwen2.5-VL-3B-Instruct"
    time_prefix = False
    visual_window = 32768
    processor_class = "Qwen2_5_VLProcessor"

    def tokens_per_second(self, loaded: Loaded) -> float | None:
        return getattr(loaded.model.config.vision_config, "tokens_per_second", None)

    def build_tiny(self) -> tuple[Any, Any]:
        from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

        tok, proc = self.tiny_parts()
        vision = dict(
            depth=2,
            hidden_size=32,
            intermediate_size=64,
            num_heads=2,
            out_hidden_size=64,
            fullatt_block_indexes=[1],
            window_size=56,
            tokens_per_second=2,
        )
        cfg = Qwen2_5_VLConfig(
            text_config=text_config(tok, mrope_section=[4, 2, 2]),
            vision_config=vision,
            **self.special_ids(tok),
        )
        return Qwen2_5_VLForConditionalGeneration(cfg), proc
