"""FAR video generation (arXiv 2503.19325): model, flow-matching rollout, KV cache, FlexRoPE.

``FARModel`` (frame-causal DiT with long short-term context), ``flow_matching_loss`` (training
objective with stochastic clean context), ``rollout`` (autoregressive Euler flow-matching sampling
with a two-level KV cache), ``FlexRoPE`` (sampling-time temporal decay), ``load_model`` (shipped
``far-shapes`` or a folder).
"""

from vlmctx.far.cache import KVCache
from vlmctx.far.checkpoint import load_model, save_checkpoint, shipped_models
from vlmctx.far.config import PRESETS, FARConfig, preset
from vlmctx.far.model import FARModel, Segment
from vlmctx.far.objective import flow_matching_loss
from vlmctx.far.rollout import RolloutConfig, rollout
from vlmctx.far.rope import FlexRoPE

__all__ = [
    "PRESETS",
    "FARConfig",
    "FARModel",
    "FlexRoPE",
    "KVCache",
    "RolloutConfig",
    "Segment",
    "flow_matching_loss",
    "load_model",
    "preset",
    "rollout",
    "save_checkpoint",
    "shipped_models",
]
