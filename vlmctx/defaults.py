"""Defaults shared by the library and every front end, in a module that imports nothing.

Front ends read them while building their argument parsers, which must stay cheap (``vlmctx
--help`` should not import torch), so they cannot live in :mod:`vlmctx.engine`.
"""

from __future__ import annotations

DEFAULT_MODEL = "Qwen/Qwen3-VL-2B-Instruct"
"""The model ``ask``, ``batch``, ``eval`` and the demo use when ``--model`` is not given."""

DEFAULT_MAX_NEW_TOKENS = 128
"""Answer length cap of ``ask``, ``batch`` and the demo (``--max-new-tokens``): one default, so
the same question gets the same answer from every front end. Eval tasks set their own (an MCQ
letter needs 16)."""
