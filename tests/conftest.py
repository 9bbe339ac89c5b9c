"""Test-wide setup: offline hub, a private cache for generated tiny checkpoints and assets."""

from __future__ import annotations

import os
import tempfile

# Never reach a model hub from tests; tiny checkpoints and the sample video go to a private cache
# (reused across runs on one machine unless VLMCTX_CACHE is set by the caller).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("VLMCTX_CACHE", os.path.join(tempfile.gettempdir(), "vlmctx-test-cache"))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from vlmctx.models import ADAPTERS  # noqa: E402  (after the offline environment above)

# Every registered family: per-family tests follow the registry, so a new family cannot skip them.
FAMILIES = ADAPTERS.names()


def pytest_terminal_summary(terminalreporter) -> None:  # noqa: ANN001
    """Which ffmpeg CLI was the corpus tests' reference decoder, and its version (also under
    ``-q``, so README's test line records it)."""
    from tests.video import corpus

    exe = corpus.ffmpeg_exe()
    found = f"{corpus.ffmpeg_version()} ({exe})" if exe else 'none: pip install "vlmctx[dev]"'
    terminalreporter.write_line(f"reference ffmpeg: {found}")
