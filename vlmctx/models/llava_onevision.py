"""LLaVA-OneVision adapter (arXiv 2408.03326): SigLIP + Qwen2 with 1-D RoPE.

Video frames are encoded at the base resolution and bilinearly pooled 2x2 by the model, followed by
one newline embedding per video; timestamps go into the prompt (LLaVA-Video's time instruction).
"""

from __future__ import annotations

from vlmctx.models.base import ADAPTERS, Adapter


@ADAPTERS.register(
    "llava_onevision", summary="LLaVA-OneVision (1-D RoPE; llava-onevision-qwen2-0.5b-ov-hf)"
)
class LlavaOnevisionAdapter(Adapter):
    family = "llava_onevision"
    model_types = ("llava_onevision",)
    default_checkpoint = "llava-hf/llava-onevision-qwen2-0.5b-ov-hf"
    time_prefix = True
