"""``VideoLM``: the one object every front end uses to ask a model about a video.

It strings the typed steps together: probe the file, let the configured sampler pick frames (with
their true timestamps), decode them, build the family's prompt, then hand one generate() call to
``vlmctx.engine.call`` (pooling, position scheme, generation under the model's lock, optionally
streamed), which reports what happened: frames used, visual/total token counts, time per stage,
peak memory. Decoded frames are cached per video (shared by ``with_config`` copies, thread-safe),
so a follow-up question does not decode the video again.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vlmctx.config import ContextConfig
from vlmctx.defaults import DEFAULT_MODEL  # here for engine users; parsers read vlmctx.defaults
from vlmctx.engine.answer import Answer, AnswerStream
from vlmctx.engine.call import Call
from vlmctx.engine.prefix_cache import PrefixCache, PrefixRequest, frames_digest
from vlmctx.errors import ConfigError, UnsupportedModelError
from vlmctx.models import ADAPTERS, Loaded, family_of, resolve_source
from vlmctx.models.contract import Adapter, Turn
from vlmctx.models.splice import interleave_subtitles
from vlmctx.video.types import Frames

if TYPE_CHECKING:
    from vlmctx.pooling import Pooler
    from vlmctx.position.schemes import PositionScheme
    from vlmctx.streaming import StreamingSession

log = logging.getLogger(__name__)


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
        prefix_cache: PrefixCache | int | None = None,
    ) -> None:
        self.loaded = loaded
        self.adapter = loaded.adapter
        self.config = config
        # the pooler and the position scheme, validated and built once per configuration
        self.components = components or check_config(config, loaded.adapter)
        self.model_id = model_id
        self.device = device
        self._frames_cache = _FramesCache()
        # prompt prefixes kept across calls (docs/prefix-cache.md); shared by with_config copies
        self.prefix_cache = (
            prefix_cache if isinstance(prefix_cache, PrefixCache) else PrefixCache(prefix_cache)
        )

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
        prefix_cache: PrefixCache | int | None = None,
    ) -> VideoLM:
        """Load ``model`` (hub id, local folder, ``tiny-<family>`` or the shipped ``toylab``).

        ``prefix_cache``: bytes for the prompt-prefix cache (0 disables it; None sizes it from
        the memory free when it is first used) or a :class:`PrefixCache`."""
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
        return cls(loaded, config, model, dev, components=components, prefix_cache=prefix_cache)

    def with_config(self, config: ContextConfig) -> VideoLM:
        """The same loaded weights (and decoded-frames cache) under another configuration.

        Copies share the model and its lock: calls on any of them are serialised.
        """
        lm = VideoLM(
            self.loaded, config, self.model_id, self.device, prefix_cache=self.prefix_cache
        )
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
        host_budget: int | str | None = None,
        compact_fraction: float = 0.5,
        chunk_context: str = "window",
    ) -> StreamingSession:
        """A streaming session on this model: ``push`` frames as they arrive, ``ask`` at any
        time, with at most ``budget`` key/value tokens (or ``budget_bytes``) on the device;
        older frame blocks are offloaded and retrieved per question (docs/streaming.md).
        ``host_budget`` (bytes or "16GiB"; default half the free memory; "none" = unbounded)
        bounds the host side: offloaded key/values up to ``1 - compact_fraction`` of it, then a
        compact tier (frames + key summaries, re-encoded when retrieved, merged when full).
        ``chunk_context="sinks"`` encodes each chunk over the sinks alone (exact re-encoding)
        instead of sinks + recent window."""
        from vlmctx.streaming import StreamingSession

        return StreamingSession(
            self,
            budget=budget,
            budget_bytes=budget_bytes,
            retrieve_tokens=retrieve_tokens,
            top_k=top_k,
            offload=offload,
            offload_dir=None if offload_dir is None else os.fspath(offload_dir),
            host_budget=host_budget,
            compact_fraction=compact_fraction,
            chunk_context=chunk_context,
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
        subtitles_placement: str | None = None,
    ) -> Answer | AnswerStream:
        """Answer ``question`` about ``video``; ``history`` holds earlier (question, answer) turns.

        ``subtitles`` (:class:`vlmctx.video.subtitles.Subtitles`): the cues overlapping the sampled
        frames, within the track's token limit (``max_tokens``), either put between the frames by
        their times (``interleaved``: ``vlmctx.models.splice.interleave_subtitles``) or before the question
        (``before``: ``adapter.prompt.subtitle_text``). ``subtitles_placement`` (``auto``, ``interleaved``,
        ``before``) overrides the track's own ``placement``; ``auto`` interleaves where the
        family and configuration can (:func:`subtitle_placement`). ``answer.extra["subtitles"]``
        says what was done.

        With ``stream=True`` returns an :class:`AnswerStream`: iterate it for text pieces, then read
        its ``answer``. ``answer.extra["prefix_cache"]`` says whether the video's prompt prefix
        came from the prefix cache (``hit``), was computed and kept (``miss``) or neither
        (``off``); ``extra["prefill_tokens"]`` counts the tokens this call prefilled.
        """
        call = self.prepare(
            video,
            question,
            history=history,
            max_new_tokens=max_new_tokens,
            subtitles=subtitles,
            subtitles_placement=subtitles_placement,
        )
        if stream:
            return AnswerStream(call)
        return call.answer()

    def prepare(
        self,
        video: str | os.PathLike[str] | Frames | None,
        question: str,
        *,
        history: Sequence[Turn] = (),
        max_new_tokens: int = 128,
        subtitles: Any = None,
        subtitles_placement: str | None = None,
    ) -> Call:
        """The :class:`Call` that :meth:`ask` runs (frames decoded, prompt built), not yet run."""
        if not question or not question.strip():
            raise ConfigError("the question is empty")
        if max_new_tokens < 1:
            raise ConfigError("max_new_tokens must be at least 1")
        if subtitles_placement is not None:
            subtitle_placement(subtitles_placement, self.adapter, self.config, check_only=True)
        t0 = time.perf_counter()
        frames = self.frames(video) if video is not None else None
        # frames handed in already decoded report the time their decoding took
        t_decode = video.decode_s if isinstance(video, Frames) else time.perf_counter() - t0
        t1 = time.perf_counter()
        inputs, notes = self._inputs(question, frames, history, subtitles, subtitles_placement)
        t_prep = time.perf_counter() - t1
        timings = {"decode": t_decode, "preprocess": t_prep}
        # the first question's text starts what the prompt does not share with other questions
        shared_until = history[0][0] if history else question
        prefix = self._prefix_request(video, frames, inputs, shared_until)
        return Call(self, inputs, frames, max_new_tokens, timings, notes, prefix)

    def _inputs(
        self,
        question: str,
        frames: Frames | None,
        history: Sequence[Turn],
        subtitles: Any,
        placement: str | None,
    ) -> tuple[Any, dict[str, Any]]:
        """Processor outputs of one turn, with the subtitles placed; and notes for the answer."""
        adapter, loaded = self.adapter, self.loaded
        if subtitles is None or frames is None:
            return adapter.prompt.build_inputs(loaded, question, frames, history), {}
        where = subtitle_placement(placement or subtitles.placement, adapter, self.config)
        if where == "before":
            from vlmctx.models.common import token_counter

            text = adapter.prompt.subtitle_text(loaded, frames, subtitles)
            inputs = adapter.prompt.build_inputs(loaded, text + question, frames, history)
            return inputs, {
                "subtitles": {"placement": "before", "tokens": token_counter(loaded)(text)}
            }
        inputs = adapter.prompt.build_inputs(loaded, question, frames, history)
        inputs, summary = interleave_subtitles(loaded, inputs, frames, subtitles)
        return inputs, {"subtitles": summary}

    def _prefix_request(
        self, video: Any, frames: Frames | None, inputs: Any, first_question: str
    ) -> PrefixRequest | None:
        """What the prefix cache needs to know of this call (None: no video, or cache off)."""
        if frames is None or not self.prefix_cache.enabled:
            return None
        if isinstance(video, Frames):
            video_id: tuple[Any, ...] = ("frames", frames_digest(video))
        else:
            video_id = ("file", *_frames_key(video, self.config))
        cfg = self.config
        config_id = (
            cfg.pooling,
            tuple(sorted(cfg.pooling_params.items())),
            cfg.position,
            tuple(sorted(cfg.position_params.items())),
        )
        tail = shared_tail(self.loaded, inputs["input_ids"], first_question)
        return PrefixRequest(video_id, tail, config_id)

    def chat(
        self, content: Sequence[Any], *, max_new_tokens: int = 128, assistant_prefix: str = ""
    ) -> Answer:
        """Generate from interleaved text and PIL images (e.g. MMLongBench documents).

        ``assistant_prefix`` is written after the chat template's generation prompt, so the model
        continues it (MMLongBench's ``Answer:``); the returned text is what follows the prefix.
        """
        inputs = self._interleaved_inputs(content, assistant_prefix)
        return Call(self, inputs, None, max_new_tokens, {"decode": 0.0, "preprocess": 0.0}).answer()

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
            return self.adapter.prompt.build_inputs(
                self.loaded, "", None, images=images, messages=msgs
            )
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


def shared_tail(loaded: Loaded, input_ids: Any, first_question: str) -> int:
    """Text tokens after the video's last token that come before ``first_question`` (the time
    prefix, subtitles placed before the question): shared by every question about the video.

    Found on the decoded text (the largest run of tokens whose text ends before the question);
    a token that merges with the question's first characters stays out. Correctness does not
    rest on this count: the prefix's token ids are part of the cache key."""
    ids = input_ids[0]
    mask = loaded.adapter.tokens.visual_mask(loaded, ids)
    if not bool(mask.any()) or not first_question:
        return 0
    tail = ids[int(mask.nonzero().max()) + 1 :].tolist()
    tok = loaded.processor.tokenizer

    def text(n: int) -> str:
        return tok.decode(tail[:n], skip_special_tokens=False, clean_up_tokenization_spaces=False)

    full = text(len(tail))
    cut = full.find(first_question)
    if cut <= 0:
        return 0
    lo, hi = 0, len(tail)  # largest n whose text is a prefix of full[:cut]
    while lo < hi:
        mid = (lo + hi + 1) // 2
        piece = text(mid)
        if len(piece) <= cut and full.startswith(piece):
            lo = mid
        else:
            hi = mid - 1
    return lo


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

    pooler: Pooler | None
    scheme: PositionScheme


def check_config(config: ContextConfig, adapter: Adapter | None = None) -> Components:
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


def subtitle_placement(
    requested: str, adapter: Adapter, config: ContextConfig, check_only: bool = False
) -> str:
    """``interleaved`` or ``before`` for a requested placement (``auto``, ``interleaved``,
    ``before``) on this family and configuration.

    ``auto`` interleaves where it can; a family whose prompt cannot carry text between frames
    falls back to ``before`` with a one-line note. Pooling takes one video block per prompt, so
    an explicit ``interleaved`` with a pooler is refused (``auto`` falls back, with the note).
    ``check_only``: validate the name only."""
    from vlmctx.video.subtitles import PLACEMENTS

    if requested not in PLACEMENTS:
        raise ConfigError(
            f"subtitle placement must be one of {', '.join(PLACEMENTS)}, got {requested!r}"
        )
    if requested == "before" or check_only:
        return "before"
    pooled = config.pooling != "none"
    if adapter.subtitles.interleaves and not pooled:
        return "interleaved"
    if pooled and requested == "interleaved":
        raise UnsupportedModelError(
            f"interleaved subtitles cut the video into several blocks, which pooling "
            f"({config.pooling}) does not take (one video block per prompt): use "
            "--subtitles-placement before, or --pooling none"
        )
    why = f"pooling ({config.pooling})" if pooled else f"family {adapter.family}"
    log.warning("subtitles go before the question: %s cannot take text between frames", why)
    return "before"


def check_applicable(components: Components, config: ContextConfig, adapter: Adapter) -> None:
    """Refuse a position scheme the adapter's family cannot take (M-RoPE-only schemes on 1-D
    RoPE families)."""
    if getattr(components.scheme, "requires_mrope", False) and not adapter.positions.mrope:
        mrope = ", ".join(e.name for e in ADAPTERS if ADAPTERS.create(e.name).positions.mrope)
        raise UnsupportedModelError(
            f"{config.position} rescales M-RoPE's (t, h, w) axes and applies only to the M-RoPE "
            f"families ({mrope}); {adapter.family} uses 1-D RoPE: use vcwe, v2pe, yarn, ntk or pi"
        )
