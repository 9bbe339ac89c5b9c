"""Streaming video QA with bounded memory: push frames as they arrive, ask at any moment.

    with lm.session(budget=4096) as s:          # VideoLM.session -> StreamingSession
        for chunk in file_chunks(path, seconds=2):
            s.push(chunk)
            ...
        answer = s.ask("What colour is the ball?")   # SessionAnswer: text, frames used

See docs/streaming.md and ReKV (arXiv 2503.00540), whose training-free recipe this follows.
"""

from vlmctx.streaming.errors import ChunkError, SessionClosedError, SourceError
from vlmctx.streaming.kv_store import Block, KVStore
from vlmctx.streaming.session import Retrieved, SessionAnswer, StreamingSession

__all__ = [
    "Block",
    "ChunkError",
    "KVStore",
    "Retrieved",
    "SessionAnswer",
    "SessionClosedError",
    "SourceError",
    "StreamingSession",
]
