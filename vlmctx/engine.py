"""``VideoLM``: the one object every front end uses to ask a model about a video.

It strings the typed steps together: probe the file, let the configured sampler pick frames (with
their true timestamps), decode them, build the family's prompt, generate (optionally streaming), and
report what happened: frames used, visual/total token counts, time per stage, peak memory. Decoded
frames are cached per video, so a follow-up question does not decode the video again.
"""

from __future__ import annotations

import logging
import os
import resource
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from vlmctx.config import ContextConfig
from vlmctx.defaults import DEFAULT_MODEL  # here for engine users; parsers read vlmctx.defaults
from vlmctx.errors import ConfigError, UnsupportedModelError, VlmctxError
from vlmctx.models import ADAPTERS, Loaded, family_of, resolve_source
from vlmctx.models.base import Turn
from vlmctx.models.positioning import applied
from vlmctx.video.types import Frames

if TYPE_CHECKING:
    from vlmctx.streaming import StreamingSession

log = logging.getLogger(__name__)


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


def _pick_device(device: str) -> str:
    import torch

    if device != "auto":
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


def _pick_dtype(dtype: Any, device: str) -> Any:
    import torch

    if dtype not in (None, "auto"):
        return getattr(torch, dtype) if isinstance(dtype, str) else dtype
    return torch.bfloat16 if device.startswith("cuda") else torch.float32


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


class VideoLM:
    """A loaded model plus a :class:`ContextConfig`; ask it about videos."""

    def __init__(
        self,
        loaded: Loaded,
        config: ContextConfig,
        model_id: str,
        device: str,
        *,
        components: Components | None = None,
    ) -> None:
        self.loaded = loaded
        self.adapter = loaded.adapter
        self.config = config
        # the pooler and the position scheme, validated and built once per configuration
        self.components = components or check_config(config, loaded.adapter)
        self.model_id = model_id
        self.device = device
        self._frames_cache = _FramesCache()

    # ---- construction ------------------------------------------------------------------------
    @classmethod
    def load(
        cls,
        model: str = DEFAULT_MODEL,
        config: ContextConfig | None = None,
        *,
        device: str = "auto",
        dtype: Any = "auto",
        components: Components | None = None,
    ) -> VideoLM:
        """Load ``model`` (hub id, local folder, ``tiny-<family>`` or the shipped ``toylab``)."""
        config = config or ContextConfig()
        # bad names/params fail before the model is resolved (a caller that validated already
        # passes what it built)
        components = components or check_config(config)
        source = resolve_source(model)  # unknown tiny names raise
        family = family_of(model)
        if family not in ADAPTERS:
            raise UnsupportedModelError(
                f"no adapter for family {family!r}; supported: {', '.join(ADAPTERS.names())}"
            )
        adapter = ADAPTERS.create(family)
        check_applicable(components, config, adapter)  # before any weight is loaded
        dev = _pick_device(device)
        loaded = adapter.load(source, dev, _pick_dtype(dtype, dev))
        return cls(loaded, config, model, dev, components=components)

    def with_config(self, config: ContextConfig) -> VideoLM:
        """The same loaded weights (and decoded-frames cache) under another configuration.

        Copies share the model and its lock: calls on any of them are serialised.
        """
        lm = VideoLM(self.loaded, config, self.model_id, self.device)
        lm._frames_cache = self._frames_cache
        return lm

    def session(
        self,
        budget: int | None = None,
        *,
        budget_bytes: int | None = None,
        retrieve_tokens: int | None = None,
        top_k: int = 4,
        offload: str = "cpu",
        offload_dir: str | os.PathLike[str] | None = None,
    ) -> StreamingSession:
        """A streaming session on this model: ``push`` frames as they arrive, ``ask`` at any
        time, with at most ``budget`` key/value tokens (or ``budget_bytes``) on the device;
        older frame blocks are offloaded and retrieved per question (docs/streaming.md)."""
        from vlmctx.streaming import StreamingSession

        return StreamingSession(
            self,
            budget=budget,
            budget_bytes=budget_bytes,
            retrieve_tokens=retrieve_tokens,
            top_k=top_k,
            offload=offload,
            offload_dir=None if offload_dir is None else os.fspath(offload_dir),
        )

    def info(self) -> dict[str, Any]:
        import torch
        import transformers

        import vlmctx

        return {
            "model": self.model_id,
            "family": self.adapter.family,
            "device": self.device,
            "dtype": str(self.loaded.model.dtype),
            "config": self.config.to_dict(),
            "versions": {
                "vlmctx": vlmctx.__version__,
                "transformers": transformers.__version__,
                "torch": torch.__version__,
            },
        }

    # ---- video -----------------------------------------------------------------------------
    def frames(self, video: str | os.PathLike[str] | Frames) -> Frames:
        """Sample and decode ``video`` under this config (cached per file and config)."""
        if isinstance(video, Frames):
            return video
        key = _frames_key(video, self.config)
        frames = self._frames_cache.get(key)
        if frames is None:
            frames = load_frames(video, self.config)
            self._frames_cache.put(key, frames)
        return frames

    @property
    def frames_cache_size(self) -> int:
        """How many decoded videos are kept (default 1: multi-turn chat about one video). The
        cache is shared with every ``with_config`` copy; keys include the sampling settings."""
        return self._frames_cache.size

    @frames_cache_size.setter
    def frames_cache_size(self, size: int) -> None:
        self._frames_cache.resize(size)

    # ---- asking ------------------------------------------------------------------------------
    def ask(
        self,
        video: str | os.PathLike[str] | Frames | None,
        question: str,
        *,
        history: Sequence[Turn] = (),
        max_new_tokens: int = 128,
        stream: bool = False,
        subtitles: Any = None,
    ) -> Answer | AnswerStream:
        """Answer ``question`` about ``video``; ``history`` holds earlier (question, answer) turns.

        ``subtitles`` (:class:`vlmctx.subtitles.Subtitles`): the cues overlapping the sampled
        frames go before the question (``Adapter.subtitle_text``), within the track's token budget.

        With ``stream=True`` returns an :class:`AnswerStream`: iterate it for text pieces, then read
        its ``answer``.
        """
        if not question or not question.strip():
            raise ConfigError("the question is empty")
        if max_new_tokens < 1:
            raise ConfigError("max_new_tokens must be at least 1")
        t0 = time.perf_counter()
        frames = self.frames(video) if video is not None else None
        # frames handed in already decoded report the time their decoding took
        t_decode = video.decode_s if isinstance(video, Frames) else time.perf_counter() - t0
        t1 = time.perf_counter()
        if subtitles is not None and frames is not None:
            question = self.adapter.subtitle_text(self.loaded, frames, subtitles) + question
        inputs = self.adapter.build_inputs(self.loaded, question, frames, history)
        t_prep = time.perf_counter() - t1
        run = _Run(self, inputs, frames, max_new_tokens, {"decode": t_decode, "preprocess": t_prep})
        if stream:
            return AnswerStream(run)
        return run.run()

    def chat(
        self, content: Sequence[Any], *, max_new_tokens: int = 128, assistant_prefix: str = ""
    ) -> Answer:
        """Generate from interleaved text and PIL images (e.g. MMLongBench documents).

        ``assistant_prefix`` is written after the chat template's generation prompt, so the model
        continues it (MMLongBench's ``Answer:``); the returned text is what follows the prefix.
        """
        inputs = self._interleaved_inputs(content, assistant_prefix)
        return _Run(self, inputs, None, max_new_tokens, {"decode": 0.0, "preprocess": 0.0}).run()

    def count_tokens(self, content: Sequence[Any], assistant_prefix: str = "") -> int:
        """Real input length in tokens of interleaved text/images (after the chat template)."""
        return int(self._interleaved_inputs(content, assistant_prefix)["input_ids"].shape[1])

    def _interleaved_inputs(self, content: Sequence[Any], assistant_prefix: str = "") -> Any:
        parts: list[dict[str, Any]] = []
        images = []
        for item in content:
            if isinstance(item, str):
                parts.append({"type": "text", "text": item})
            else:
                parts.append({"type": "image"})
                images.append(item)
        msgs = [{"role": "user", "content": parts}]
        if not assistant_prefix:
            return self.adapter.build_inputs(self.loaded, "", None, images=images, messages=msgs)
        # the adapters' build_inputs always ends at the generation prompt; append the prefix
        # to the templated text ourselves (same processor call, images only, no video kwargs)
        proc = self.loaded.processor
        text = proc.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
        kwargs: dict[str, Any] = {"text": [text + assistant_prefix], "return_tensors": "pt"}
        if images:
            kwargs["images"] = images
        return proc(**kwargs)


class _FramesCache:
    """Least-recently-used decoded videos, keyed by file, stamp and sampling settings."""

    def __init__(self, size: int = 1) -> None:
        self.size = size
        self._items: OrderedDict[tuple[Any, ...], Frames] = OrderedDict()
        self._lock = threading.Lock()  # shared by with_config copies used from several threads

    def get(self, key: tuple[Any, ...]) -> Frames | None:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            return None

    def put(self, key: tuple[Any, ...], frames: Frames) -> None:
        with self._lock:
            self._items[key] = frames
            self._trim()

    def resize(self, size: int) -> None:
        if size < 1:
            raise ConfigError(f"frames_cache_size must be at least 1, got {size}")
        with self._lock:
            self.size = size
            self._trim()

    def _trim(self) -> None:
        while len(self._items) > self.size:
            self._items.popitem(last=False)


def load_frames(video: str | os.PathLike[str], config: ContextConfig) -> Frames:
    """Probe ``video``, select frames with the configured sampler and decode them."""
    from vlmctx.video import SAMPLERS, probe, read_frames

    t0 = time.perf_counter()
    info = probe(os.fspath(video))
    sampler = SAMPLERS.create(config.sampler, **dict(config.sampler_params))
    frames = read_frames(info, sampler.select(info), config.backend, config.max_pixels)
    frames.decode_s = time.perf_counter() - t0
    return frames


def _frames_key(video: str | os.PathLike[str], config: ContextConfig) -> tuple[Any, ...]:
    path = os.fspath(video)
    try:
        st = os.stat(path)
        stamp: tuple[Any, ...] = (st.st_size, st.st_mtime_ns)
    except OSError:
        stamp = ()
    params = tuple(sorted(config.sampler_params.items()))
    return (path, *stamp, config.sampler, params, config.backend, config.max_pixels)


@dataclass(frozen=True)
class Components:
    """A configuration's pooler (None for ``none``) and position scheme, built once."""

    pooler: Any
    scheme: Any


def check_config(config: ContextConfig, adapter: Any = None) -> Components:
    """Build (and so validate) the configured pooler and position scheme; with an ``adapter``,
    also refuse components that do not apply to its family. Runs before any weight is loaded."""
    from vlmctx.pooling import POOLERS
    from vlmctx.position import POSITIONS

    pooler = None
    if config.pooling != "none":
        pooler = POOLERS.create(config.pooling, **dict(config.pooling_params))
    components = Components(
        pooler, POSITIONS.create(config.position, **dict(config.position_params))
    )
    if adapter is not None:
        check_applicable(components, config, adapter)
    return components


def check_applicable(components: Components, config: ContextConfig, adapter: Any) -> None:
    """Refuse a position scheme the adapter's family cannot take (M-RoPE-only schemes on 1-D
    RoPE families)."""
    if getattr(components.scheme, "requires_mrope", False) and not adapter.mrope:
        mrope = ", ".join(e.name for e in ADAPTERS if e.factory.mrope)
        raise UnsupportedModelError(
            f"{config.position} rescales M-RoPE's (t, h, w) axes and applies only to the M-RoPE "
            f"families ({mrope}); {adapter.family} uses 1-D RoPE: use vcwe, v2pe, yarn, ntk or pi"
        )


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


class _Run:
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
    ) -> None:
        self.lm, self.inputs, self.frames = lm, inputs, frames
        self.max_new_tokens, self.timings = max_new_tokens, timings
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
        clock = _StageClock(adapter.vision_module(model), self)  # hooks live for this call only
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
        visual = adapter.count_visual(lm.loaded, model_inputs["input_ids"])
        before = adapter.count_visual(lm.loaded, inputs["input_ids"])
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


def _stream_worker(run: _Run, streamer: Any, box: dict[str, Any]) -> None:
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

    def __init__(self, run: _Run) -> None:
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
