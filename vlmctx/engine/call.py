"""One generate() call on a loaded model (``Call``), with its timing and accounting.

The call holds the model's lock (``Loaded.lock``) from moving its inputs to the device, through
encoding, pooling, the position scheme's rotary swap and ``generate``, to the end of the generation
(streaming included), so overlapping calls on one shared model are serialised and the measurements
are this call's (see ``vlmctx.engine.answer`` and docs/architecture-notes.md, "Serving safety").
It imports ``answer`` (the record it returns); ``answer`` imports nothing from here at run time.
"""

from __future__ import annotations

import resource
import threading
import time
from typing import TYPE_CHECKING, Any

from vlmctx.engine.answer import Answer
from vlmctx.engine.prefix_cache import PrefixOutcome, PrefixRequest, generate_cached, visual_key
from vlmctx.errors import VlmctxError
from vlmctx.models.positioning import applied
from vlmctx.video.types import Frames

if TYPE_CHECKING:
    from vlmctx.engine.videolm import VideoLM


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


class _FirstLogits:
    """Logits processor that keeps the first generated token's logits (exactness tests)."""

    def __init__(self, call: Call) -> None:
        self.call = call

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        if self.call.first_logits is None:
            self.call.first_logits = scores.detach().float().cpu().clone()
        return scores


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
        prefix: PrefixRequest | None = None,
    ) -> None:
        self.lm, self.inputs, self.frames = lm, inputs, frames
        self.prefix = prefix  # None: no prefix cache for this call (no video, or cache off)
        self.outcome: PrefixOutcome | None = None
        self.max_new_tokens, self.timings = max_new_tokens, timings
        self.notes = dict(notes or {})  # what the prompt was built from (e.g. subtitle placement)
        self.stop = threading.Event()
        self.tokens = 0  # new tokens so far (read by streams)
        self.record_logits = False  # tests: keep the first generated token's logits
        self.first_logits: Any = None
        self.output_ids: Any = None  # the generated sequence (prompt + new tokens), after a call

    def answer(self, text_streamer: Any = None) -> Answer:
        """Generate (under the model lock) and return the :class:`Answer` with its measurements."""
        lm = self.lm
        t_wait = time.perf_counter()
        with lm.loaded.lock:
            waited = time.perf_counter() - t_wait
            out, n_in, visual, before, info, peak = self._generate(text_streamer)
        tok = lm.loaded.processor.tokenizer
        new = out[0, n_in:]
        self.output_ids = out[0].cpu()
        frames = self.frames
        extra: dict[str, Any] = {"position": info} if info else {}
        extra.update(visual_tokens_before_pooling=before, lock_wait_s=round(waited, 4))
        extra.update(self.notes)
        outcome = self.outcome or PrefixOutcome("off", 0, n_in)
        extra.update(
            prefix_cache=outcome.state,
            prefix_tokens=outcome.prefix_tokens,
            prefill_tokens=outcome.prefill_tokens,
        )
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
                    gen = {
                        "max_new_tokens": self.max_new_tokens,
                        "do_sample": False,
                        "use_cache": True,  # see vlmctx/models/positioning.py on fractional ids
                        "streamer": streamer,
                        "stopping_criteria": StoppingCriteriaList([_StopOnEvent(self.stop)]),
                        "pad_token_id": lm.loaded.processor.tokenizer.pad_token_id,
                    }
                    if self.record_logits:
                        gen["logits_processor"] = [_FirstLogits(self)]
                    out = self._run(model_inputs | extra, gen)
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

    def _run(self, kwargs: dict[str, Any], gen: dict[str, Any]) -> Any:
        """One pass, or through the prefix cache when this call has a video and the cache is on."""
        lm = self.lm
        if self.prefix is None:
            return lm.loaded.model.generate(**kwargs, **gen)
        pos = lm.adapter.positions
        rotary = getattr(pos.language_model(lm.loaded.model), pos.rotary_attr, None)
        out, self.outcome = generate_cached(
            lm.loaded, lm.prefix_cache, self.prefix, kwargs, gen, rotary, lm.device
        )
        return out

    def _model_inputs(self, inputs: Any) -> tuple[Any, list[Any] | None]:
        """The language model's inputs and, when pooled, the pooled sequence's layouts for the
        position scheme (None: the scheme reads them from the processor outputs). Without a
        pooler the model's own forward encodes the frames (HF's reference path); with one the
        adapter's ``visual_features`` does, timed by the same hook on the vision tower."""
        pooler = self.lm.components.pooler
        if pooler is None:
            return inputs, None
        from vlmctx.models.pooled import pooled_inputs

        store, key = self.lm.prefix_cache, None
        if self.prefix is not None:
            key = visual_key(self.lm.loaded, self.prefix, inputs)
        cached = store.get(key) if key is not None else None
        features = cached.features if cached is not None else None
        pooled = pooled_inputs(self.lm.loaded, inputs, pooler, features)
        if key is not None and cached is None:
            store.put_features(key, pooled.features, self.lm.device)
        return pooled.kwargs, [pooled.layout]
