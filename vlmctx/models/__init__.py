"""Model adapters, one per Hugging Face family, tiny offline checkpoints for each, and the shipped
``toylab`` checkpoint.

Importing this package registers every adapter in :data:`ADAPTERS`. Adding a family: one adapter
module here that composes the protocols of ``contract.py`` (reusing ``common.py`` and the other
families' components) and registers its builder with ``register_family``, its import below, and
a card file in ``cards/``; nothing else branches on family names.
"""

from vlmctx.models import internvl, llava_onevision, qwen2_5_vl, qwen2_vl, qwen3_5, qwen3_vl  # noqa: F401
from vlmctx.models.contract import ADAPTERS, Adapter, Loaded, VisualFeatures
from vlmctx.models.names import SHIPPED, is_tiny
from vlmctx.models.resolve import family_of, resolve_source
from vlmctx.models.tiny import tiny_names, tiny_path

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
