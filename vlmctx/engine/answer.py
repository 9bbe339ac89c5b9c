"""One answer from a loaded model: the ``Answer`` record and the stream that delivers it piece by
piece (the generate() call behind both is ``vlmctx.engine.call``).

A call (``Call``, in ``call.py``) holds the model's lock (``Loaded.lock``) from moving its inputs to
the device, through encoding, pooling, the position scheme's rotary swap and ``generate``, to the end of the
generation (streaming included), so overlapping calls on one shared model are serialised and the
measurements are this call's: stage times from hooks that live only while the call holds the lock
and count only its own thread, the CUDA allocator peak reset under the lock (on CPU the process's
lifetime peak RSS, labelled as such). A stream stops at the next token when its consumer closes it,
breaks out of it or drops it (a stopping criterion on an event). See docs/architecture-notes.md,
"Serving safety".
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vlmctx.engine.call import Call


@dataclass
class Answer:
    """The result of one question: the text and how it was produced."""

    text: str
    frames: list[tuple[int, float]]  # (display-order index, presentation time in seconds)
    visual_tokens: int
    total_tokens: int
    new_tokens: int
    timings: dict[str, float]  # seconds per stage: decode, preprocess, encode, prefill, generate
    peak_memory_bytes: int  # see peak_memory_scope
    model: str
    config: dict[str, Any]
    backend: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    # What peak_memory_bytes measures: "call" (CUDA allocator peak from the start of this call's
    # generation to its end; calls on one model are serialised, so no other call's tensors on
    # this model are counted) or "process" (CPU: the process's lifetime peak RSS, which includes
    # every earlier call and anything else the process did).
    peak_memory_scope: str = "call"

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON and records, floats rounded to 6 significant digits
        (:func:`vlmctx.units.rounded`: ``2.16667 s``, not ``2.1666666666666665``)."""
        from vlmctx.units import rounded

        return rounded(asdict(self))


def _stream_worker(run: Call, streamer: Any, box: dict[str, Any]) -> None:
    """The generation thread of a stream. Holds no reference to the ``AnswerStream``, so a
    stream its consumer dropped is garbage-collected and its finaliser stops this thread."""
    try:
        box["answer"] = run.answer(streamer)
    except BaseException as exc:  # re-raised in the consumer's thread
        box["error"] = exc
        streamer.end()


class AnswerStream:
    """Iterate for text pieces as they are generated; ``answer`` holds the result at the end.

    ``close()`` (or leaving a ``with`` block, breaking out of the loop, or dropping the stream)
    stops generation at the next token and releases the model for other calls.
    """

    def __init__(self, run: Call) -> None:
        from transformers import TextIteratorStreamer

        self._run = run
        tok = run.lm.loaded.processor.tokenizer
        self._streamer = TextIteratorStreamer(tok, skip_prompt=True, skip_special_tokens=True)
        self._box: dict[str, Any] = {}
        self._thread = threading.Thread(
            target=_stream_worker, args=(run, self._streamer, self._box), daemon=True
        )
        self._thread.start()

    @property
    def answer(self) -> Answer | None:
        return self._box.get("answer")

    @property
    def tokens_generated(self) -> int:
        """New tokens generated so far."""
        return self._run.tokens

    def __iter__(self) -> Iterator[str]:
        finished = False
        try:
            yield from self._streamer
            self._thread.join()
            finished = True
        finally:
            if not finished:  # the consumer stopped early (break, close, garbage collection)
                self._run.stop.set()
        if "error" in self._box:
            raise self._box["error"]

    def close(self, timeout: float | None = 30.0) -> None:
        """Stop generation at the next token and wait for the thread to finish."""
        self._run.stop.set()
        self._thread.join(timeout)

    def __enter__(self) -> AnswerStream:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        self._run.stop.set()
