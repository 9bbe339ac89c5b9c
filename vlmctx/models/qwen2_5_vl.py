"""Qwen2.5-VL adapter (arXiv 2502.13923): M-RoPE with absolute-time-aligned temporal ids.

The temporal position of each temporal patch is ``t * tokens_per_second * second_per_grid_t``; the
processor derives ``second_per_grid_ts`` from the sampled fps we pass in the video metadata, so
real timestamps reach the model through positions rather than text.
"""

from __future__ import annotations

from vlmctx.models.base import ADAPTERS
from vlmctx.models.qwen2_vl import Qwen2VLAdapter


@ADAPTERS.register("qwen2_5_vl", summary="Qwen2.5-VL (time-aligned M-RoPE; Qwen2.5-VL-3B)")
class Qwen25VLAdapter(Qwen2VLAdapter):
    family = "qwen2_5_vl"
    model_types = ("qwen2_5_vl",)
    default_checkpoint = "Qwen/Qwen2.5-VL-3B-Instruct"
    time_prefix = False
