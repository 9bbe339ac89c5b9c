"""Model adapters, one per Hugging Face family, and tiny offline checkpoints for each.

Importing this package registers every adapter in :data:`ADAPTERS`.
"""

from vlmctx.models import internvl, llava_onevision, qwen2_5_vl, qwen2_vl  # noqa: F401
from vlmctx.models.base import ADAPTERS, Adapter, Loaded, family_of
from vlmctx.models.tiny import TINY_BUILDERS, is_tiny, tiny_path

__all__ = ["ADAPTERS", "TINY_BUILDERS", "Adapter", "Loaded", "family_of", "is_tiny", "tiny_path"]
