"""Model adapters, one per Hugging Face family, tiny offline checkpoints for each, and the shipped
``toylab`` checkpoint.

Importing this package registers every adapter in :data:`ADAPTERS`. Adding a family: one adapter
file here (a subclass of :class:`Adapter` that answers the contract in ``base.py`` and builds its
tiny model) and its import below; nothing else branches on family names.
"""

from vlmctx.models import internvl, llava_onevision, qwen2_5_vl, qwen2_vl, qwen3_5, qwen3_vl  # noqa: F401
from vlmctx.models.base import (
    ADAPTERS,
    SHIPPED,
    Adapter,
    Loaded,
    VisualFeatures,
    family_of,
    resolve_source,
)
from vlmctx.models.tiny import is_tiny, tiny_names, tiny_path

__all__ = [
    "ADAPTERS",
    "SHIPPED",
    "Adapter",
    "Loaded",
    "VisualFeatures",
    "family_of",
    "is_tiny",
    "resolve_source",
    "tiny_names",
    "tiny_path",
]
