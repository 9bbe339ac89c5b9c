"""Qwen3.5 adapter: Qwen3-VL's vision side and prompt format on a hybrid language model.

Qwen3.5 (transformers ``Qwen3_5ForConditionalGeneration``) shares Qwen3-VL's processor
(``Qwen3VLProcessor``: ``<t seconds>`` markers from our true PTS, one group per frame pair), its
``get_rope_index`` and its interleaved M-RoPE (arXiv 2511.21631 §2.1), so it is composed of
Qwen3-VL's components everywhere but the language model's. Differences:

- The language model interleaves Gated DeltaNet linear-attention layers (no positions at all)
  with full-attention layers (``config.layer_types``); only the full-attention layers read the
  shared rotary module, so a position scheme swapped into it acts on them alone (what each
  scheme means for such a hybrid: docs/positions.md, "Qwen3.5: schemes on a hybrid model").
- Partial rotary: only ``head_dim * partial_rotary_factor`` channels of each head rotate (0.25
  in the released configs, transformers' default), read by ``spec_from_config``.
- No DeepStack: the vision tower returns the merged tokens only, so the pooled path is the
  per-pair one without DeepStack (``VisualFeatures.levels`` is empty).
- The planner adds the Gated DeltaNet layers' fixed-size state (:class:`GatedDeltaNetPlanner`).

Visual window (VCWE's default): 32768 tokens, an ASSUMPTION taken over from Qwen3-VL (see
:mod:`vlmctx.models.qwen3_vl`: the 32K long-context pre-training stage of arXiv 2511.21631); no
technical report or per-video token cap was found for Qwen3.5. The window counts the tokens the
full-attention layers see (docs/positions.md, "Qwen3.5: schemes on a hybrid model").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vlmctx.models.common import PlaceholderTokens
from vlmctx.models.contract import Adapter, CheckpointSettings, register_family
from vlmctx.models.qwen2_vl import MRopePlanner
from vlmctx.models.qwen3_vl import (
    TINY_TEXT,
    PerPairPooled,
    Qwen3Positions,
    Qwen3Prompting,
    Qwen3Subtitles,
    Qwen3VLTiny,
)

if TYPE_CHECKING:
    from transformers import PretrainedConfig, PreTrainedModel, ProcessorMixin

# Tiny hybrid text model: one Gated DeltaNet layer, then one full-attention layer; head_dim 32
# with partial rotary 0.5 -> 16 rotated channels, 8 frequencies interleaved as [3, 3, 2]
# (h = {1, 4, 7}, w = {2, 5}, t = {0, 3, 6}).
_TINY_TEXT = dict(
    TINY_TEXT,  # the same shrunk widths as tiny-qwen3_vl, plus the hybrid layers
    head_dim=32,
    layer_types=["linear_attention", "full_attention"],
    linear_conv_kernel_dim=4,
    linear_key_head_dim=16,
    linear_value_head_dim=16,
    linear_num_key_heads=2,
    linear_num_value_heads=4,
)
_TINY_VISION = dict(
    depth=2,
    hidden_size=32,
    intermediate_size=64,
    num_heads=2,
    out_hidden_size=64,
    num_position_embeddings=256,
)


class GatedDeltaNetPlanner(MRopePlanner):
    """Qwen3-VL's visual-token terms plus the hybrid language model's fixed-size state."""

    def fixed_state_bytes(self, text_config: PretrainedConfig, dtype_bytes: int) -> int:
        """The Gated DeltaNet layers' cache, which does not grow with the tokens: per linear
        layer a causal-conv state of ``(2 x key_dim + value_dim) x conv_kernel`` in the model's
        dtype and a recurrent state of ``v_heads x k_head_dim x v_head_dim`` in float32
        (transformers 5.24's ``LinearAttentionLayer``; its delta-rule kernels return the state in
        float32 whatever the model dtype, as measured in tests/planner/test_memory_plan.py)."""
        t = text_config
        types = list(t.layer_types)[: t.num_hidden_layers]
        linear = sum(1 for kind in types if kind == "linear_attention")
        key_dim = t.linear_key_head_dim * t.linear_num_key_heads
        value_dim = t.linear_value_head_dim * t.linear_num_value_heads
        conv = (2 * key_dim + value_dim) * t.linear_conv_kernel_dim * dtype_bytes
        recurrent = t.linear_num_value_heads * t.linear_key_head_dim * t.linear_value_head_dim * 4
        return linear * (conv + recurrent)


class Qwen35Tiny(Qwen3VLTiny):
    """Tiny Qwen3.5: one Gated DeltaNet layer, one full-attention layer, partial rotary."""

    def build(self) -> tuple[PreTrainedModel, ProcessorMixin]:
        from transformers import Qwen3_5Config, Qwen3_5ForConditionalGeneration

        tok, proc = self.tiny_parts()
        rope = {
            "rope_type": "default",
            "rope_theta": 10_000_000.0,
            "mrope_interleaved": True,
            "mrope_section": [3, 3, 2],
            "partial_rotary_factor": 0.5,
        }
        text = dict(
            _TINY_TEXT,
            vocab_size=len(tok),
            pad_token_id=tok.pad_token_id,
            eos_token_id=tok.eos_token_id,
            rope_parameters=rope,
        )
        cfg = Qwen3_5Config(text_config=text, vision_config=_TINY_VISION, **self.special_ids(tok))
        return Qwen3_5ForConditionalGeneration(cfg), proc


@register_family("qwen3_5", summary="Qwen3.5 (hybrid Gated DeltaNet + full attention LM)")
def qwen3_5(family: str) -> Adapter:
    """Qwen3.5: Qwen3-VL's prompting and positions, no DeepStack, a hybrid planner."""
    settings = CheckpointSettings(time_prefix=False, visual_window=32768)
    return Adapter(
        family,
        model_types=("qwen3_5", "qwen3_5_moe"),
        default_checkpoint="Qwen/Qwen3.5-27B",  # the id transformers 5.24 documents
        settings=settings,
        prompt=Qwen3Prompting(settings),
        tokens=PlaceholderTokens(),
        subtitles=Qwen3Subtitles(),
        positions=Qwen3Positions(),
        pooled=PerPairPooled(),
        planner=GatedDeltaNetPlanner(),
        tiny=Qwen35Tiny(),
    )
