"""Position schemes for long visual context: RoPE math, the scheme registry, a generic rotary.

Typical use from a model adapter::

    spec = RopeSpec(head_dim=128, rope_theta=1e6, max_position_embeddings=32768,
                    mrope_section=(16, 24, 24), family="qwen2_vl")
    layout = TokenLayout.from_types(token_type, grids=[(t, h, w)])
    positions = POSITIONS.create("vcwe", apply_to="all").positions(layout, spec)
    batch = batch_positions([positions], attention_mask)
    rotary = SchemeRotaryEmbedding.from_spec(spec); rotary.set_positions(batch)

See docs/positions.md for each scheme and the papers.
"""

from vlmctx.position.hf import layouts_from_mm_inputs, layouts_from_visual_mask, spec_from_config
from vlmctx.position.ids import base_position_ids
from vlmctx.position.rotary import SchemeRotaryEmbedding
from vlmctx.position.schemes import POSITIONS, V2PE_DELTAS, compute_positions, identity_params
from vlmctx.position.types import (
    IMAGE,
    TEXT,
    VIDEO,
    BatchedPositions,
    Positions,
    RopeSpec,
    TokenLayout,
    VisualSpan,
    batch_positions,
)

__all__ = [
    "IMAGE",
    "POSITIONS",
    "TEXT",
    "V2PE_DELTAS",
    "VIDEO",
    "BatchedPositions",
    "SchemeRotaryEmbedding",
    "Positions",
    "RopeSpec",
    "TokenLayout",
    "VisualSpan",
    "base_position_ids",
    "batch_positions",
    "layouts_from_mm_inputs",
    "layouts_from_visual_mask",
    "compute_positions",
    "identity_params",
    "spec_from_config",
]
