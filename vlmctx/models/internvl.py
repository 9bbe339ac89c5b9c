"""InternVL adapter (InternVL2.5/3, arXiv 2412.05271 / 2504.10479) for the native HF ``-hf`` ports.

Each frame becomes ``Frame{i}: <img><IMG_CONTEXT>*k</img>`` (k = 256 for 448-pixel tiles after
pixel shuffle); positions are 1-D. Timestamps go into the prompt text.
"""

from __future__ import annotations

from typing import Any

from vlmctx.models.base import ADAPTERS, Adapter, Loaded


@ADAPTERS.register("internvl", summary="InternVL 2.5/3 HF ports (1-D RoPE; InternVL3-1B-hf)")
class InternVLAdapter(Adapter):
    family = "internvl"
    model_types = ("internvl",)
    default_checkpoint = "OpenGVLab/InternVL3-1B-hf"
    time_prefix = True

    def visual_tokens(self, loaded: Loaded) -> list[str]:
        return [loaded.processor.image_token]  # <IMG_CONTEXT>: one per visual embedding

    def vision_module(self, model: Any) -> Any:
        return getattr(model.model, "vision_tower", None)
