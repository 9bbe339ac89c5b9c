"""Model adapters, one per Hugging Face family, tiny offline checkpoints for each, and the shipped
``toylab`` checkpoint.

Importing this package registers every adapter in :data:`ADAPTERS`.
"""

from vlmctx.models import internvl, llava_onevision, qwen2_5_vl, qwen2_vl  # noqa: F401
from vlmctx.models.base import ADAPTERS, SHIPPED, Adapter, Loaded, family_of, resolve_source
from vlmctx.models.tiny import TINY_BUILDERS, is_tiny, tiny_path

__all__ = [
    "ADAPTERS",
    "SHIPPED",
    "TINY_BUILDERS",
    "Adapter",
    "Loaded",
    "family_of",
    "is_tiny",
    "resolve_source",
    "tiny_path",
]
