"""One answer from a loaded model: the ``Answer`` record, the generate() call behind it and the
stream that delivers it piece by piece.

A call (``Call``) holds the model's lock (``Loaded.lock``) from moving its inputs to the device,
through encoding, pooling, the position scheme's rotary swap and ``generate``, to the end of the
generation (streaming included), so overlapping calls on one shared model are serialised and the
measurements are this call's: stage times from hooks that live only while the call holds the lock
and count only its own thread, the CUDA allocator peak reset under the lock (on CPU the process's
lifetime peak RSS, labelled as such). A stream stops at the next token when its consumer closes it,
breaks out of it or drops it (a stopping criterion on an event). See docs/architecture-notes.md,
"Serving safety".
"""

from __future__ import annotations

import resource
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from vlmctx.errors import VlmctxError
from vlmctx.models.positioning import applied
from vlmctx.video.types import Frames

if TYPE_CHECKING:
    from vlmctx.engine import VideoLM


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
        (:func:`vlmctx.output.rounded`: ``2.16667 s``, not ``2.1666666666666665``)."""
        from vlmctx.output import rounded

        return rounded(asdict(self))


class _StageClock:
    """Times the vision tower (encode) and the first generated token (end of prefill) of one
    call, and counts its new tokens. The hooks are registered on the shared vision tower only
    while the call holds the model lock, and count only forwards run by the call's own thread."""

    def __init__(self, vision: Any, run: Any = None) -> None:
        self.encode = 0.0
        self.first_token_at: float | None = None
        self._t0 = 0.0
        self._puts = 0
        self._run = run
        self._thread = threading.get_ident()
        self._handles = []
        if vision is not None:
            self._handles.append(vision.register_forward_pre_hook(self._pre))
            self._handles.append(vision.register_forward_hook(self._post))

    def _pre(self, *_: Any) -> None:
        if threading.get_ident() == self._thread:
            self._t0 = time.perf_counter()

    def _post(self, *_: Any) -> None:
        if threading.get_ident() == self._thread:
            self.encode += time.perf_counter() - self._t0

    # streamer protocol: the first put() carries the prompt, each later one a new token
    def put(self, value: Any) -> None:
        if self._puts == 1 and self.first_token_at is None:
            self.first_token_at = time.perf_counter()
        self._puts += 1
        if self._run is not None and self._puts > 1:
            self._run.tokens = self._puts - 1

    def end(self) -> None:
        pass

    def close(self) -> None:
        for h in self._handles:
            h.remove()


class _Tee:
    """Forward streamer calls to several streamers (the stage clock and a text streamer)."""

    def __init__(self, *streamers: Any) -> None:
        self.streamers = streamers

    def put(self, value: Any) -> None:
        for s in self.streamers:
            s.put(value)

    def end(self) -> None:
        for s in self.streamers:
            s.end()


def _peak_memory(device: str) -> tuple[int, str]:
    """(bytes, scope): the CUDA allocator peak since this call's reset, or on CPU the process's
    lifetime peak RSS (no per-call peak exists there; labelled so nobody reads it as one)."""
    import torch

    if device.startswith("cuda"):
        return int(torch.cuda.max_memory_allocated()), "call"
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024, "process"


class _StopOnEvent:
    """Stopping criterion: end generation at the next token once ``event`` is set (a closed or
    abandoned stream), so a gone consumer never keeps the model busy."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        stop = self.event.is_set()
        return torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)


class Call:
    """One generate() call with timing and accounting.

    Everything that touches the model (moving inputs to its device, encoding, pooling, the
    position scheme's rotary swap, generate) happens under ``loaded.lock``, so overlapping calls
    on one model are serialised and the stage timings, hooks and CUDA peak belong to this call.
    Time spent waiting for the lock is reported as ``extra["lock_wait_s"]``.
    """

    def __init__(
        self,
        lm: VideoLM,
        inputs: Any,
        frames: Frames | None,
        max_new_tokens: int,
        timings: dict[str, float],
        notes: dict[str, Any] | None = None,
    ) -> None:
        self.lm, self.inputs, self.frames = lm, inputs, frames
        self.max_new_tokens, self.timings = max_new_tokens, timings
        self.notes = dict(notes or {})  # what the prompt was built from (e.g. subtitle placement)
        self.stop = threading.Event()
        self.tokens = 0  # new tokens so far (read by streams)

    def run(self, text_streamer: Any = None) -> Answer:
        lm = self.lm
        t_wait = time.perf_counter()
        with lm.loaded.lock:
            waited = time.perf_counter() - t_wait
            out, n_in, visual, before, info, peak = self._generate(text_streamer)
        tok = lm.loaded.processor.tokenizer
        new = out[0, n_in:]
        frames = self.frames
        extra: dict[str, Any] = {"position": info} if info else {}
        extra.update(visual_tokens_before_pooling=before, lock_wait_s=round(waited, 4))
        extra.update(self.notes)
        if self.stop.is_set() and int(new.shape[0]) < self.max_new_tokens:
            extra["cancelled"] = True
        return Answer(
            text=tok.decode(new, skip_special_tokens=True).strip(),
            frames=[(int(i), float(t)) for i, t in zip(frames.indices, frames.pts_s, strict=True)]
            if frames is not None
            else [],
            visual_tokens=visual,
            total_tokens=n_in,
            new_tokens=int(new.shape[0]),
            timings={k: round(v, 4) for k, v in self.timings.items()},
            peak_memory_bytes=peak[0],
            peak_memory_scope=peak[1],
            model=lm.model_id,
            config=lm.config.to_dict(),
            backend=frames.backend if frames is not None else "",
            extra=extra,
        )

    def _generate(self, text_streamer: Any) -> tuple[Any, int, int, int, dict, tuple[int, str]]:
        """Under the model lock: prepare, position, generate; returns the output ids, input
        length, visual tokens after and before pooling, the scheme's info and the peak."""
        import torch
        from transformers import StoppingCriteriaList

        lm = self.lm
        model, adapter = lm.loaded.model, lm.adapter
        if lm.device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        inputs = self.inputs.to(lm.device)
        clock = _StageClock(
            adapter.pooled.vision_module(model), self
        )  # hooks live for this call only
        streamer = _Tee(clock, text_streamer) if text_streamer is not None else clock
        t0 = time.perf_counter()
        try:
            with torch.inference_mode():
                model_inputs, layouts = self._model_inputs(inputs)
                scheme = lm.components.scheme
                with applied(lm.loaded, model_inputs, scheme, layouts) as extra:
                    info = extra.pop("_position_info", {})
                    out = model.generate(
                        **{**model_inputs, **extra},
                        max_new_tokens=self.max_new_tokens,
                        do_sample=False,
                        use_cache=True,  # see vlmctx/models/positioning.py on fractional ids
                        streamer=streamer,
                        stopping_criteria=StoppingCriteriaList([_StopOnEvent(self.stop)]),
                        pad_token_id=lm.loaded.processor.tokenizer.pad_token_id,
                    )
        except torch.OutOfMemoryError as exc:
            raise VlmctxError(
                "out of memory during generation: use fewer frames (--frames), --max-pixels, "
                "or a pooling option; `vlmctx plan` estimates the need"
            ) from exc
        finally:
            clock.close()
        t_end = time.perf_counter()
        first = clock.first_token_at or t_end
        self.timings.update(
            encode=clock.encode,
            prefill=max(first - t0 - clock.encode, 0.0),
            generate=t_end - first,
        )
        n_in = int(model_inputs["input_ids"].shape[1])
        visual = adapter.tokens.count_visual(lm.loaded, model_inputs["input_ids"])
        before = adapter.tokens.count_visual(lm.loaded, inputs["input_ids"])
        return out, n_in, visual, before, info, _peak_memory(lm.device)

    def _model_inputs(self, inputs: Any) -> tuple[Any, list[Any] | None]:
        """The language model's inputs and, when pooled, the pooled sequence's layouts for the
        position scheme (None: the scheme reads them from the processor outputs). Without a
        pooler the model's own forward encodes the frames (HF's reference path); with one the
        adapter's ``visual_features`` does, timed by the same hook on the vision tower."""
        pooler = self.lm.components.pooler
        if pooler is None:
            return inputs, None
        from vlmctx.models.pooled import pooled_inputs

        pooled = pooled_inputs(self.lm.loaded, inputs, pooler)
        return pooled.kwargs, [pooled.layout]


def _stream_worker(run: Call, streamer: Any, box: dict[str, Any]) -> None:
    """The generation thread of a stream. Holds no reference to the ``AnswerStream``, so a
    stream its consumer dropped is garbage-collected and its finaliser stops this thread."""
    try:
        box["answer"] = run.run(streamer)
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
