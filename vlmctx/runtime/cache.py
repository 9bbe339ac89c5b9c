"""Where vlmctx keeps what it generates on disk (tiny checkpoints, the bundled sample video)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """``$VLMCTX_CACHE`` or ``~/.cache/vlmctx``: generated tiny checkpoints and assets live here."""
    return Path(os.environ.get("VLMCTX_CACHE", Path.home() / ".cache" / "vlmctx"))
