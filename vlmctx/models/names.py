"""Names that load with no hub: the shipped checkpoints, ``tiny-<family>`` and ``shape-<card>``
prefixes, the per-checkpoint settings file, and the one-line hint of a failed load.

A leaf module (imports nothing of ``vlmctx.models``), so the contract, the tiny factories, the
hub check and name resolution can all read it without importing one another.
"""

from __future__ import annotations

import os
from pathlib import Path

TINY_PREFIX = "tiny-"
SHAPE_PREFIX = "shape-"
SETTINGS_FILE = "vlmctx.json"
# Checkpoints shipped inside the package, loadable by name with no download.
SHIPPED: dict[str, Path] = {"toylab": Path(__file__).parent / "checkpoints" / "toylab"}


def is_tiny(name: str) -> bool:
    """Whether ``name`` names a tiny test model (``tiny-<family>``)."""
    return name.startswith(TINY_PREFIX)


def is_shape(name: str) -> bool:
    """Whether ``name`` names a shape-true test model (``shape-<card>``)."""
    return name.startswith(SHAPE_PREFIX)


def load_hint(source: str, exc: Exception) -> str:
    """One line for a checkpoint that ``from_pretrained`` could not load, with what to try."""
    offline = os.environ.get("HF_HUB_OFFLINE") == "1"
    where = "a local folder" if Path(source).exists() else "the Hugging Face hub"
    return (
        f"cannot load model {source!r} from {where}"
        f"{' (HF_HUB_OFFLINE=1)' if offline else ''}: {str(exc).splitlines()[0][:200]}. "
        "Without hub access, pass a local checkpoint folder, or try a tiny offline model such as "
        "--model tiny-qwen2_vl (random weights; `vlmctx ls` lists them)."
    )
