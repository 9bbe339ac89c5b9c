"""Qwen2-VL adapter (arXiv 2409.12191): M-RoPE over (t, h, w); timestamps as a text prefix.

Qwen2-VL's temporal position id advances by one per temporal patch (2 frames) regardless of the
frames' real times, so the sampled timestamps are written into the prompt.
"""

from __future__ import annotations

from typing import Any

from vlmctx.models.base import ADAPTERS, Adapter


@ADAPTERS.register("qwen2_vl", summary="Qwen2-VL (M-RoPE; default Qwen/Qwen2-VL-2B-Instruct)")
class Qwen2VLAdapter(Adapter):
    family = "qwen2_vl"
    model_types = ("qwen2_vl",)
    default_checkpoint = "Qwen/Qwen2-VL-2B-Instruct"
    time_prefix = True
    mrope = True

    def prepare_processor(self, processor: Any) -> None:
        # qwen-vl-utils caps pixels per frame by an even share of the total budget; adopt it.
        vp = getattr(processor, "video_processor", None)
        if vp is not None and getattr(vp, "cap_pixels_per_frame", None) is None:
            vp.cap_pixels_per_frame = True
