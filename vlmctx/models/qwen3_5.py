"""Qwen3.5 adapter: Qwen3-VL's vision side and prompt format on a hybrid language model.

Qwen3.5 (transformers ``Qwen3_5ForConditionalGeneration``) shares Qwen3-VL's processor
(``Qwen3VLProcessor``: ``<t seconds>`` markers from our true PTS, one group per frame pair), its
``get_rope_index`` and its interleaved M-RoPE (arXiv 2511.21631 §2.1), so everything but the
language model is inherited from :class:`~vlmctx.models.qwen3_vl.Qwen3VLAdapter`. Differences:

- The language model interleaves Gated DeltaNet linear-attention layers (no positions at all)
  with full-attention layers (``config.layer_types``); only the full-attention layers read the
  shared rotary module, so a position scheme swapped into it acts on them alone (what each
  scheme means for such a hybrid: docs/positions.md, "Qwen3.5: schemes on a hybrid model").
- Partial rotary: only ``head_dim * partial_rotary_factor`` channels of each head rotate (0.25
  in the released configs, transformers' default), read by ``spec_from_config``.
- No DeepStack: the vision tower returns the merged tokens only, so the pooled path is the
  generic one (``VisualFeatures.levels`` is empty).

Visual window (VCWE's default): 32768 tokens, an ASSUMPTION taken over from Qwen3-VL (see
:mod:`vlmctx.models.qwen3_vl`: the 32K long-context pre-training stage of arXiv 2511.21631); no
technical report or per-video token cap was found for Qwen3.5. The window counts the tokens the
full-attention layers see (docs/positions.md, "Qwen3.5: schemes on a hybrid model").
"""

from __future__ import annotations

from typing import Any

from vlmctx.models import qwen3_vl
from vlmctx.models.base import ADAPTERS, Adapter, Loaded, VisualFeatures
from vlmctx.models.qwen3_vl import Qwen3VLAdapter

# Tiny hybrid text model: one Gated DeltaNet layer, then one full-attention layer; head_dim 32
# with partial rotary 0.5 -> 16 rotated channels, 8 frequencies interleaved as [3, 3, 2]
# (h = {1, 4, 7}, w = {2, 5}, t = {0, 3, 6}).
_TINY_TEXT = dict(
    qwen3_vl._TINY_TEXT,  # the same shrunk widths as tiny-qwen3_vl, plus the hybrid layers
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


@ADAPTERS.register("qwen3_5", summary="Qwen3.5 (hybrid Gated DeltaNet + full attention LM)")
class Qwen35Adapter(Qwen3VLAdapter):
    family = "qwen3_5"
    model_types = ("qwen3_5", "qwen3_5_moe")
    default_checkpoint = "Qwen/Qwen3.5-27B"  # the id transformers 5.24 documents
    visual_window = 32768

    def visual_features(self, loaded: Loaded, inputs: Any) -> VisualFeatures:
        t, h, w = self._video_grid(loaded, inputs)
        out = loaded.model.model.get_video_features(
            inputs["pixel_values_videos"], inputs["video_grid_thw"]
        )
        return VisualFeatures(out.pooler_output[0].reshape(t, h, w, -1))  # (t*h*w, d)->(t,h,w,d)

    def pooled_embeddings(
        self, loaded: Loaded, new_ids: Any, visual_mask: Any, visual: Any, levels: Any
    ) -> dict[str, Any]:
        """No DeepStack: the generic ``inputs_embeds`` with the pooled tokens in place."""
        return Adapter.pooled_embeddings(self, loaded, new_ids, visual_mask, visual, levels)

    def attention_layer_types(self, loaded: Loaded) -> list[str]:
        """``full_attention`` (reads the rotary) or ``linear_attention`` (no positions), per
        language layer, from the config."""
        return list(loaded.model.config.get_text_config().layer_types)

    def fixed_state_bytes(self, text_config: Any, dtype_bytes: int) -> int:
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

    def build_tiny(self) -> tuple[Any, Any]:
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
