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
from typing import Any

from vlmctx.config import ContextConfig
from vlmctx.errors import ConfigError, UnsupportedModelError, VlmctxError
from vlmctx.models import ADAPTERS, Loaded, family_of, resolve_source
from vlmctx.models.base import Turn
from vlmctx.models.positioning import applied
from vlmctx.video.types import Frames

log = logging.getLogger(__name__)

DEFAULT_MODEL = "Qwen/Qwen2-VL-2B-Instruct"


@dataclass
class Answer:
    """The result of one question: the text and how it was produced."""

    text: str
    frames: list[tuple[int, float]]  # (display-order index, presentation time in seconds)
    visual_tokens: int
    total_tokens: int
    new_tokens: int
    timings: dict[str, float]  # seconds per stage: decode, preprocess, encode, prefill, generate
    peak_memory_bytes: int
    model: str
    config: dict[str, Any]
    backend: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
    """Times the vision tower (encode) and the first generated token (end of prefill)."""

    def __init__(self, vision: Any) -> None:
        self.encode = 0.0
        self.first_token_at: float | None = None
        self._t0 = 0.0
        self._puts = 0
        self._handles = []
        if vision is not None:
            self._handles.append(vision.register_forward_pre_hook(self._pre))
            self._handles.append(vision.register_forward_hook(self._post))

    def _pre(self, *_: Any) -> None:
        self._t0 = time.perf_counter()

    def _post(self, *_: Any) -> None:
        self.encode += time.perf_counter() - self._t0

    # streamer protocol: the first put() carries the prompt, the second the first new token
    def put(self, value: Any) -> None:
        if self._puts == 1 and self.first_token_at is None:
            self.first_token_at = time.perf_counter()
        self._puts += 1

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

    def __init__(self, loaded: Loaded, config: ContextConfig, model_id: str, device: str) -> None:
        self.loaded = loaded
        self.adapter = loaded.adapter
        self.config = config
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
    ) -> VideoLM:
        """Load ``model`` (hub id, local folder, ``tiny-<family>`` or the shipped ``toylab``)."""
        config = config or ContextConfig()
        _check_context(config)
        source = resolve_source(model)  # unknown tiny names raise
        family = family_of(model)
        if family not in ADAPTERS:
            raise UnsupportedModelError(
                f"no adapter for family {family!r}; supported: {', '.join(ADAPTERS.names())}"
            )
        adapter = ADAPTERS.create(family)
        _check_context(config, adapter.mrope)
        dev = _pick_device(device)
        loaded = adapter.load(source, dev, _pick_dtype(dtype, dev))
        return cls(loaded, config, model, dev)

    def with_config(self, config: ContextConfig) -> VideoLM:
        """The same loaded weights (and decoded-frames cache) under another configuration."""
        _check_context(config, self.adapter.mrope)
        lm = VideoLM(self.loaded, config, self.model_id, self.device)
        lm._frames_cache = self._frames_cache
        return lm

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
    ) -> Answer | AnswerStream:
        """Answer ``question`` about ``video``; ``history`` holds earlier (question, answer) turns.

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

    def get(self, key: tuple[Any, ...]) -> Frames | None:
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        return None

    def put(self, key: tuple[Any, ...], frames: Frames) -> None:
        self._items[key] = frames
        self.resize(self.size)

    def resize(self, size: int) -> None:
        if size < 1:
            raise ConfigError(f"frames_cache_size must be at least 1, got {size}")
        self.size = size
        while len(self._items) > size:
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


def _check_context(config: ContextConfig, mrope: bool | None = None) -> None:  # noqa: D401
    """Refuse unknown or inapplicable components before any weight is loaded."""
    if config.pooling != "none":
        from vlmctx.pooling import POOLERS

        POOLERS.create(config.pooling, **dict(config.pooling_params))  # validates name + params
    if config.position != "default":
        from vlmctx.position import POSITIONS

        POSITIONS.create(config.position, **dict(config.position_params))  # validates params
        if config.position == "mrope_pp" and mrope is False:
            raise UnsupportedModelError(
                "mrope_pp rescales M-RoPE's (t, h, w) axes and applies only to Qwen2-VL and "
                "Qwen2.5-VL; for 1-D RoPE families use vcwe, v2pe, yarn, ntk or pi"
            )


def _peak_memory(device: str) -> int:
    import torch

    if device.startswith("cuda"):
        return int(torch.cuda.max_memory_allocated())
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024  # process peak RSS


class _Run:
    """One generate() call with timing and accounting."""

    def __init__(
        self,
        lm: VideoLM,
        inputs: Any,
        frames: Frames | None,
        max_new_tokens: int,
        timings: dict[str, float],
    ) -> None:
        self.lm, self.inputs, self.frames = lm, inputs.to(lm.device), frames
        self.max_new_tokens, self.timings = max_new_tokens, timings

    def run(self, text_streamer: Any = None) -> Answer:
        import torch

        lm = self.lm
        model = lm.loaded.model
        if lm.device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        clock = _StageClock(lm.adapter.vision_module(model))
        streamer = _Tee(clock, text_streamer) if text_streamer is not None else clock
        tok = lm.loaded.processor.tokenizer
        pooling = lm.config.pooling != "none"
        t0 = time.perf_counter()
        try:
            with torch.inference_mode():
                model_inputs, layouts = self._pooled() if pooling else (self.inputs, None)
                with applied(lm.loaded, model_inputs, lm.config, layouts) as extra:
                    position_info = extra.pop("_position_info", {})
                    out = model.generate(
                        **{**model_inputs, **extra},
                        max_new_tokens=self.max_new_tokens,
                        do_sample=False,
                        use_cache=True,  # see vlmctx/models/positioning.py on fractional ids
                        streamer=streamer,
                        pad_token_id=tok.pad_token_id,
                    )
        except torch.OutOfMemoryError as exc:
            raise VlmctxError(
                "out of memory during generation: use fewer frames (--frames), --max-pixels, "
                "or a pooling option; `vlmctx plan` estimates the need"
            ) from exc
        finally:
            clock.close()
        t_end = time.perf_counter()
        n_in = int(model_inputs["input_ids"].shape[1])
        new = out[0, n_in:]
        first = clock.first_token_at or t_end
        self.timings.update(
            encode=clock.encode,
            prefill=max(first - t0 - clock.encode, 0.0),
            generate=t_end - first,
        )
        frames = self.frames
        return Answer(
            text=tok.decode(new, skip_special_tokens=True).strip(),
            frames=[(int(i), float(t)) for i, t in zip(frames.indices, frames.pts_s, strict=True)]
            if frames is not None
            else [],
            visual_tokens=lm.adapter.count_visual(lm.loaded, model_inputs["input_ids"]),
            total_tokens=n_in,
            new_tokens=int(new.shape[0]),
            timings={k: round(v, 4) for k, v in self.timings.items()},
            peak_memory_bytes=_peak_memory(lm.device),
            model=lm.model_id,
            config=lm.config.to_dict(),
            backend=frames.backend if frames is not None else "",
            extra=dict(
                {"position": position_info} if position_info else {},
                visual_tokens_before_pooling=lm.adapter.count_visual(
                    lm.loaded, self.inputs["input_ids"]
                ),
            ),
        )

    def _pooled(self) -> tuple[dict[str, Any], list[Any]]:
        """Inputs with the video embeddings pooled by the configured pooler, and the pooled
        sequence's layout for the position scheme (encode is timed by the stage clock's hook on
        the vision tower)."""
        from vlmctx.models.pooled import pooled_inputs
        from vlmctx.pooling import POOLERS

        cfg = self.lm.config
        pooler = POOLERS.create(cfg.pooling, **dict(cfg.pooling_params))
        pooled = pooled_inputs(self.lm.loaded, self.inputs, pooler)
        return pooled.kwargs, [pooled.layout]


class AnswerStream:
    """Iterate for text pieces as they are generated; ``answer`` holds the result at the end."""

    def __init__(self, run: _Run) -> None:
        from transformers import TextIteratorStreamer

        self._run = run
        tok = run.lm.loaded.processor.tokenizer
        self._streamer = TextIteratorStreamer(tok, skip_prompt=True, skip_special_tokens=True)
        self.answer: Answer | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, daemon=True)
        self._thread.start()

    def _work(self) -> None:
        try:
            self.answer = self._run.run(self._streamer)
        except BaseException as exc:  # re-raised in the consumer's thread
            self._error = exc
            self._streamer.end()

    def __iter__(self) -> Iterator[str]:
        yield from self._streamer
        self._thread.join()
        if self._error is not None:
            raise self._error
