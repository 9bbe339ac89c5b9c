"""The engine: ``VideoLM`` (load a model, ask it about videos), the ``Answer`` it returns and the
``Call`` that produces it.

Files, in import order (no file imports one above it): ``answer.py`` (the record and its stream),
``prefix_cache.py`` (the prompt-prefix KV cache, docs/prefix-cache.md), ``call.py`` (one
generate() under the model's lock), ``videolm.py`` (the front ends' object).
"""

from __future__ import annotations

from vlmctx.engine.answer import Answer, AnswerStream
from vlmctx.engine.call import Call
from vlmctx.engine.prefix_cache import PrefixCache
from vlmctx.engine.videolm import (
    DEFAULT_MODEL,
    Components,
    VideoLM,
    check_applicable,
    check_config,
    load_frames,
    subtitle_placement,
)

__all__ = [
    "DEFAULT_MODEL",
    "Answer",
    "AnswerStream",
    "Call",
    "Components",
    "PrefixCache",
    "VideoLM",
    "check_applicable",
    "check_config",
    "load_frames",
    "subtitle_placement",
]
