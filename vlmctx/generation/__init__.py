"""FAR video generation (arXiv 2503.19325): model, flow-matching sampler, KV cache, FlexRoPE.

``FARModel`` (frame-causal DiT with long short-term context), ``flow_matching_loss`` (training
objective with stochastic clean context), ``rollout`` (Euler sampler with a two-level KV cache),
``FlexRoPE`` (sampling-time temporal decay), ``load_model`` (shipped ``far-shapes`` or a folder).
"""

from vlmctx.generation.cache import KVCache
from vlmctx.generation.checkpoint import load_model, save_checkpoint, shipped_models
from vlmctx.generation.config import PRESETS, FARConfig, preset
from vlmctx.generation.model import FARModel, Segment
from vlmctx.generation.objective import flow_matching_loss
from vlmctx.generation.rope import FlexRoPE
from vlmctx.generation.sampler import RolloutConfig, rollout

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
