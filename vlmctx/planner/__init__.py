"""The memory planner: tokens, KV cache, activations and weights of a request, before any weight is
loaded (the "memory plan"; "budget" is the streaming session's KV bound, not this).

``memory_plan.py`` holds the plan and the fit table; byte sizes come from ``vlmctx.units``.
"""

from __future__ import annotations

from vlmctx.planner.memory_plan import (
    FIT_STEP,
    FitRow,
    MemoryPlan,
    Planner,
    TokenCount,
    check_memory_limit,
    fit_table,
    kv_bytes_per_token,
    mlp_width,
    parse_memory_sizes,
    plan_memory,
)
from vlmctx.units import human_bytes, parse_bytes

__all__ = [
    "FIT_STEP",
    "FitRow",
    "MemoryPlan",
    "Planner",
    "TokenCount",
    "check_memory_limit",
    "fit_table",
    "human_bytes",
    "kv_bytes_per_token",
    "mlp_width",
    "parse_bytes",
    "parse_memory_sizes",
    "plan_memory",
]
