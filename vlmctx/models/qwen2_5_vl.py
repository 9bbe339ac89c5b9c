"""Qwen2.5-VL adapter (arXiv 2502.13923): M-RoPE with absolute-time-aligned temporal ids.

The temporal position of each temporal patch is ``t * tokens_per_second * second_per_grid_t``; the
processor derives ``second_per_grid_ts`` from the sampled fps we pass in the video metadata, so
real timestamps reach the model through positions rather than text. Everything else is Qwen2-VL's.

Visual window (VCWE's default): 32768, the sequence length of Qwen2.5-VL's long-context
pre-training stage (arXiv 2502.13923, Table 2); no per-video cap is stated, so this is an upper
bound.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vlmctx.models.common import PlaceholderTokens
from vlmctx.models.contract import Adapter, CheckpointSettings, register_family
from vlmctx.models.qwen2_vl import (
    MRopePlanner,
    MRopePooled,
    MRopePositions,
    Qwen2VLTiny,
    QwenPrompting,
    QwenSubtitles,
)
from vlmctx.models.tinykit import text_config

if TYPE_CHECKING:
    from transformers import PreTrainedModel, ProcessorMixin


class Qwen25VLTiny(Qwen2VLTiny):
    """Tiny Qwen2.5-VL: a window-attention vision tower with one full-attention block."""

    processor_class = "Qwen2_5_VLProcessor"

    def build(self) -> tuple[PreTrainedModel, ProcessorMixin]:
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


@register_family("qwen2_5_vl", summary="Qwen2.5-VL (time-aligned M-RoPE; Qwen2.5-VL-3B)")
def qwen2_5_vl(family: str) -> Adapter:
    """Qwen2.5-VL: no text time prefix; time reaches the model through its positions."""
    settings = CheckpointSettings(time_prefix=False, visual_window=32768)
    return Adapter(
        family,
        model_types=("qwen2_5_vl",),
        default_checkpoint="Qwen/Qwen2.5-VL-3B-Instruct",
        settings=settings,
        prompt=QwenPrompting(settings),
        tokens=PlaceholderTokens(),
        subtitles=QwenSubtitles(),
        positions=MRopePositions(time_aligned=True),
        pooled=MRopePooled(time_aligned=True),
        planner=MRopePlanner(),
        tiny=Qwen25VLTiny(),
    )
