"""OpenAI chat-completion bodies (``chat.completion`` and ``chat.completion.chunk``) from an
:class:`~vlmctx.engine.Answer`, plus vlmctx's facts in one extra field, ``vlmctx``: frames with
their timestamps, visual tokens before and after pooling, time per stage, the configuration, the
queue wait and the prefix cache (``null``: prefix reuse is not in this version of the engine).
OpenAI clients keep unknown fields (``completion.model_extra["vlmctx"]`` in the ``openai``
package)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"


def finish_reason(answer: Any, max_tokens: int) -> str:
    return "length" if answer.new_tokens >= max_tokens else "stop"


def usage(answer: Any) -> dict[str, int]:
    return {
        "prompt_tokens": answer.total_tokens,
        "completion_tokens": answer.new_tokens,
        "total_tokens": answer.total_tokens + answer.new_tokens,
    }


def facts(answer: Any, extra: dict[str, Any]) -> dict[str, Any]:
    """The ``vlmctx`` field: how the answer was made."""
    a = answer.to_dict()
    out = {
        "frames": [{"index": i, "time_s": t} for i, t in a["frames"]],
        "visual_tokens": a["visual_tokens"],
        "visual_tokens_before_pooling": a["extra"].get("visual_tokens_before_pooling"),
        "timings_s": a["timings"],
        "backend": a["backend"],
        "config": a["config"],
        "prefix_cache": a["extra"].get("prefix_cache"),
        "peak_memory_bytes": a["peak_memory_bytes"],
        "peak_memory_scope": a["peak_memory_scope"],
    }
    for key in ("position", "subtitles"):
        if key in a["extra"]:
            out[key] = a["extra"][key]
    out.update(extra)
    return out


def completion(cid: str, model: str, answer: Any, max_tokens: int, extra: dict) -> dict[str, Any]:
    """The non-streamed response body."""
    return {
        "id": cid,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer.text},
                "logprobs": None,
                "finish_reason": finish_reason(answer, max_tokens),
            }
        ],
        "usage": usage(answer),
        "vlmctx": facts(answer, extra),
    }


def chunk(cid: str, model: str, delta: dict[str, Any], finish: str | None = None,
          **fields: Any) -> dict[str, Any]:  # fmt: skip
    """One ``chat.completion.chunk``; ``fields`` adds top-level fields (usage, vlmctx)."""
    choices = [] if delta is None else [
        {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
    ]  # fmt: skip
    return {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()),
            "model": model, "choices": choices, **fields}  # fmt: skip


def sse(data: dict[str, Any] | str) -> bytes:
    """One server-sent event: ``data: {json}`` and a blank line."""
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return f"data: {text}\n\n".encode()
