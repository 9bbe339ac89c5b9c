"""Position schemes for long visual context: RoPE math, the scheme registry, a generic rotary.

Typical use from a model adapter::

    spec = RopeSpec(head_dim=128, rope_theta=1e6, max_position_embeddings=32768,
                    mrope_section=(16, 24, 24), family="qwen2_vl")
    layout = TokenLayout.from_types(token_type, grids=[(t, h, w)])
    plan = POSITIONS.create("vcwe", apply_to="all").plan(layout, spec)
    batch = batch_plans([plan], attention_mask)
    rotary = PlannedRotaryEmbedding.from_spec(spec); rotary.set_plan(batch)

See docs/positions.md for each scheme and the papers.
"""

from vlmctx.position.hf import layouts_from_mm_inputs, layouts_from_visual_mask, spec_from_config
from vlmctx.position.ids import base_position_ids
from vlmctx.position.rotary import PlannedRotaryEmbedding
from vlmctx.position.schemes import POSITIONS, V2PE_DELTAS, VISUAL_WINDOW, plan_positions
from vlmctx.position.types import (
    IMAGE,
    TEXT,
    VIDEO,
    BatchedPositions,
    PositionPlan,
    RopeSpec,
    TokenLayout,
    VisualRun,
    batch_plans,
)

__all__ = [
    "IMAGE",
    "POSITIONS",
    "TEXT",
    "V2PE_DELTAS",
    "VIDEO",
    "VISUAL_WINDOW",
    "BatchedPositions",
    "PlannedRotaryEmbedding",
    "PositionPlan",
    "RopeSpec",
    "TokenLayout",
    "VisualRun",
    "base_position_ids",
    "batch_plans",
    "layouts_from_mm_inputs",
    "layouts_from_visual_mask",
    "plan_positions",
    "spec_from_config",
]
