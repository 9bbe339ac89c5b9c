"""Encode a video once, ask it many questions: the prompt-prefix KV cache of ``VideoLM``.

A question about a video shares with every other question about it the prompt's *prefix*: the
system prompt, the user turn's opening, the video's tokens (Qwen3's timestamp markers and
interleaved subtitles among them) and the text that follows the video before the question (the
time prefix, subtitles placed before the question). Only the question, the history and the
generation prompt differ. After a call, :class:`PrefixCache` keeps the key/value cache of that
prefix (a ``transformers`` ``DynamicCache``; linear-attention state included) and, on the pooled
path, the vision tower's per-frame features; a later call whose prefix has the same key prefills
only its suffix on a *copy* of the cached prefix (generation appends to the cache it is given)
and generates from there.

The key (:func:`prefix_key`) is a digest of everything the prefix's keys and values depend on:
the video's identity (file path, size and mtime, or a digest of handed-in frames), the sampler
and its parameters, the model and its dtype, the pooler and the position scheme with their
parameters, and then the *resolved* inputs themselves: the prefix's token ids (system prompt and
chat-template prefix included), its sequence-aligned inputs (attention mask, token types,
position ids as the scheme resolved them, M-RoPE's (t, h, w) ids included), the processor's
non-pixel outputs (video grid, seconds per grid step) and the scheme rotary's frequency tables
and per-token groups. A prefix that a later question would position differently (V2PE choosing
another delta for a longer question) therefore misses instead of answering wrongly.

Positions after the prefix are those of one pass: the suffix's position ids are the one-pass
ids sliced at the prefix length (``generate`` slices what it is given); without explicit ids the
model's position state (Qwen's ``rope_deltas``) is reset so that ``generate`` computes them from
the full ids and the video grid, as it does in one pass. Every cached call, hit or miss, runs the
same two steps (prefix, then suffix), so an answer does not depend on whether another question
came first. The cache is bounded by bytes (LRU), optionally keeps its entries in host memory on
a GPU machine (``offload``), and is used only under the model's lock.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vlmctx.errors import ConfigError

if TYPE_CHECKING:
    import torch

    from vlmctx.models.contract import Loaded, VisualFeatures
    from vlmctx.video.types import Frames

log = logging.getLogger(__name__)

# Inputs aligned with the token sequence (sliced at the prefix length); position ids last dim.
SEQUENCE_KEYS = ("input_ids", "attention_mask", "mm_token_type_ids", "token_type_ids")
# Inputs that carry the video's pixels or embeddings: only the prefix's forward reads them.
VISUAL_KEYS = ("inputs_embeds", "mm_encoder_outputs", "visual_pos_masks", "deepstack_visual_embeds")
AUTO_FRACTION = 0.25  # default size: this share of the memory free when the first entry is kept


@dataclass
class PrefixEntry:
    """One cached prefix: its ``DynamicCache`` (``length`` tokens) and its size in bytes."""

    cache: Any
    length: int
    nbytes: int


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    evictions: int = 0
    too_large: int = 0


@dataclass
class PrefixRequest:
    """What ``VideoLM`` knows of a call that the cache needs: the video's identity and how many
    text tokens after the video's last token the prompt shares with other questions."""

    video_id: tuple[Any, ...]
    shared_tail: int
    config_id: tuple[Any, ...] = ()


class PrefixCache:
    """Least-recently-used prompt prefixes (and pooled-path visual features), bounded by bytes.

    ``max_bytes`` None sizes the cache on first use at :data:`AUTO_FRACTION` of the memory free
    on the model's device (CUDA: free device memory; CPU: ``MemAvailable``); 0 disables it.
    ``offload``: keep entries in host memory and copy them to the device per hit (GPU machines
    whose device memory the cache should not hold).
    """

    def __init__(self, max_bytes: int | None = None, offload: bool = False) -> None:
        if max_bytes is not None and max_bytes < 0:
            raise ConfigError(f"prefix cache size must be >= 0, got {max_bytes}")
        self.max_bytes = max_bytes
        self.offload = offload
        self.stats = CacheStats()
        self._items: OrderedDict[str, PrefixEntry | VisualEntry] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.max_bytes != 0

    @property
    def nbytes(self) -> int:
        with self._lock:
            return sum(e.nbytes for e in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def resolve_size(self, device: str) -> int:
        """The byte bound, sizing an automatic one now from the device's free memory."""
        if self.max_bytes is None:
            self.max_bytes = int(free_memory(device) * AUTO_FRACTION)
            share = 100 * AUTO_FRACTION
            log.info("prefix cache: %d bytes (%.0f%% of free memory)", self.max_bytes, share)
        return self.max_bytes

    def resize(self, max_bytes: int | None) -> None:
        """A new byte bound (None: sized from free memory on next use); trims now."""
        if max_bytes is not None and max_bytes < 0:
            raise ConfigError(f"prefix cache size must be >= 0, got {max_bytes}")
        with self._lock:
            self.max_bytes = max_bytes
            self._trim(max_bytes if max_bytes is not None else None)

    def _trim(self, limit: int | None) -> None:
        if limit is None:
            return
        while self._items and sum(e.nbytes for e in self._items.values()) > limit:
            self._items.popitem(last=False)
            self.stats.evictions += 1

    def get(self, key: str) -> Any:
        with self._lock:
            entry = self._items.get(key)
            if entry is not None:
                self._items.move_to_end(key)
            return entry

    def put_features(self, key: str, features: VisualFeatures | None, device: str) -> None:
        """Keep the pooled path's encoder output for this video (``key``: :func:`visual_key`)."""
        if features is not None:
            self.put(key, VisualEntry(features, features_nbytes(features)), device)

    def put(self, key: str, entry: PrefixEntry | VisualEntry, device: str) -> bool:
        """Keep ``entry`` (evicting the least recently used); False if it alone is too large."""
        limit = self.resolve_size(device)
        with self._lock:
            self._items.pop(key, None)
            if entry.nbytes > limit:
                self.stats.too_large += 1
                return False
            self._items[key] = entry
            self._trim(limit)
            return True


@dataclass
class VisualEntry:
    """The pooled path's encoder output for one video (pooling it again is cheap)."""

    features: VisualFeatures
    nbytes: int


def free_memory(device: str) -> int:
    """Bytes free on ``device`` now: CUDA's free device memory, else the host's MemAvailable."""
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        free, _ = torch.cuda.mem_get_info(torch.device(device))
        return int(free)
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return (
        (os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))
        if hasattr(os, "sysconf")
        else 0
    )


# ---- identity --------------------------------------------------------------------------------
def frames_digest(frames: Frames) -> str:
    """A digest of handed-in frames' pixels and times, computed once per ``Frames`` object."""
    cached = frames.__dict__.get("_vlmctx_digest")
    if cached is None:
        h = hashlib.blake2b(digest_size=16)
        for arr in (frames.data, frames.indices, frames.pts_s):
            h.update(str((arr.dtype, arr.shape)).encode())
            h.update(memoryview(arr).cast("B") if arr.flags.c_contiguous else arr.tobytes())
        cached = h.hexdigest()
        frames.__dict__["_vlmctx_digest"] = cached
    return cached


def _update(h: Any, value: Any) -> None:
    import torch

    if isinstance(value, torch.Tensor):
        t = value.detach().contiguous().cpu()
        h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    elif isinstance(value, dict):
        for k in sorted(value, key=str):
            h.update(f"K{k}".encode())
            _update(h, value[k])
    elif isinstance(value, (list, tuple)):
        h.update(f"L{len(value)}".encode())
        for v in value:
            _update(h, v)
    else:
        h.update(f"V{value!r}".encode())


def prefix_key(
    loaded: Loaded,
    request: PrefixRequest,
    kwargs: dict[str, Any],
    length: int,
    rotary: Any,
) -> str:
    """The digest of everything the first ``length`` tokens' keys and values depend on."""
    h = hashlib.blake2b(digest_size=20)
    model = loaded.model
    _update(h, (loaded.source, str(model.dtype), request.video_id, request.config_id, length))
    for name in sorted(kwargs):
        value = kwargs[name]
        if name.startswith("pixel_") or name in VISUAL_KEYS or value is None:
            continue  # the pixels are the video's identity; embeddings follow from them
        h.update(name.encode())
        if name in SEQUENCE_KEYS or name == "position_ids":
            _update(h, value[..., :length])
        else:
            _update(h, value)
    if rotary is not None and hasattr(rotary, "inv_freq_table"):
        groups = rotary.token_group
        _update(h, (rotary.inv_freq_table, rotary.scaling_table))
        _update(h, groups[:, :length] if groups is not None else None)
    return h.hexdigest()


def visual_key(loaded: Loaded, request: PrefixRequest, inputs: Any) -> str:
    """The key of a video's encoder output: model, dtype, video identity, processor grids."""
    h = hashlib.blake2b(digest_size=20)
    _update(h, ("features", loaded.source, str(loaded.model.dtype), request.video_id))
    for name in sorted(inputs.keys()):
        if name.startswith("pixel_") or name in SEQUENCE_KEYS or name in VISUAL_KEYS:
            continue
        h.update(name.encode())
        _update(h, inputs[name])
    return "features:" + h.hexdigest()


# ---- cache tensors -----------------------------------------------------------------------------
def _tensors(cache: Any) -> Iterator[torch.Tensor]:
    import torch

    seen: set[int] = set()
    for layer in getattr(cache, "layers", []):
        for value in vars(layer).values():
            items = value.values() if isinstance(value, dict) else (value,)
            for t in items:
                if isinstance(t, torch.Tensor) and id(t) not in seen:
                    seen.add(id(t))
                    yield t


def cache_nbytes(cache: Any) -> int:
    return sum(t.numel() * t.element_size() for t in _tensors(cache))


def clone_cache(cache: Any, device: Any = None) -> Any:
    """A deep copy of a ``DynamicCache`` (every layer's tensors), optionally on ``device``."""
    memo = {
        id(t): (t.to(device, copy=True) if device is not None else t.clone())
        for t in _tensors(cache)
    }
    return copy.deepcopy(cache, memo)


def features_nbytes(features: VisualFeatures) -> int:
    parts = [features.grid, features.trailing, *features.levels]
    return sum(t.numel() * t.element_size() for t in parts if t is not None)


@contextmanager
def prefix_groups(rotary: Any, length: int) -> Iterator[None]:
    """Let a scheme rotary's per-token groups cover a prefill of the first ``length`` tokens
    (it reads a call shorter than the prompt as a decode step, in the text group)."""
    groups = getattr(rotary, "token_group", None)
    if groups is None:
        yield
        return
    rotary.token_group = groups[:, :length]
    try:
        yield
    finally:
        rotary.token_group = groups


# ---- one call ----------------------------------------------------------------------------------
@dataclass
class PrefixOutcome:
    """What a cached call did: ``state`` hit/miss/off, the prefix length and the tokens it
    prefilled (the suffix on a hit; prefix + suffix on a miss)."""

    state: str
    prefix_tokens: int
    prefill_tokens: int


def prefix_length(loaded: Loaded, input_ids: torch.Tensor, shared_tail: int) -> int:
    """Tokens up to the video's last token plus the shared text after it; 0 without a video.
    At least one token is left to the suffix (the step that yields the first logits)."""
    mask = loaded.adapter.tokens.visual_mask(loaded, input_ids[0])
    if not bool(mask.any()):
        return 0
    last = int(mask.nonzero().max())
    return min(last + 1 + shared_tail, int(input_ids.shape[1]) - 1)


def _prefix_kwargs(kwargs: dict[str, Any], length: int) -> dict[str, Any]:
    out = {}
    for name, value in kwargs.items():
        if name in SEQUENCE_KEYS or name == "position_ids":
            value = value[..., :length]
        elif name == "inputs_embeds":
            value = value[:, :length]
        out[name] = value
    return out


def _suffix_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Full-length ids, mask and positions (generate slices them at the cache's length); no
    pixels or embeddings (every visual token is in the prefix)."""
    return {k: v for k, v in kwargs.items() if not k.startswith("pixel_") and k not in VISUAL_KEYS}


def _prefill_prefix(loaded: Loaded, kwargs: dict[str, Any], length: int, rotary: Any) -> Any:
    """Run the prefix through ``generate`` (one new token, not fed back) and return its cache."""
    model = loaded.model
    with prefix_groups(rotary, length):
        out = model.generate(
            **_prefix_kwargs(kwargs, length),
            max_new_tokens=1,
            do_sample=False,
            use_cache=True,
            return_dict_in_generate=True,
            pad_token_id=loaded.processor.tokenizer.pad_token_id,
        )
    cache = getattr(out, "cache", None)
    if cache is None or cache.get_seq_length() != length:
        raise RuntimeError("the prefix's prefill did not leave a cache of the prefix's length")
    return cache


def generate_cached(
    loaded: Loaded,
    store: PrefixCache,
    request: PrefixRequest,
    kwargs: dict[str, Any],
    gen: dict[str, Any],
    rotary: Any,
    device: str,
) -> tuple[Any, PrefixOutcome]:
    """``generate`` through the prefix cache (call under the model lock); falls back to one
    pass when the prompt has no video."""
    model = loaded.model
    ids = kwargs["input_ids"]
    n = int(ids.shape[1])
    length = prefix_length(loaded, ids, request.shared_tail)
    if length <= 0:
        return model.generate(**kwargs, **gen), PrefixOutcome("off", 0, n)
    key = prefix_key(loaded, request, kwargs, length, rotary)
    entry = store.get(key)
    if isinstance(entry, PrefixEntry):
        store.stats.hits += 1
        state, computed = "hit", n - length
        past = clone_cache(entry.cache, model.device if store.offload else None)
    else:
        store.stats.misses += 1
        state, computed = "miss", n
        past = _prefill_prefix(loaded, kwargs, length, rotary)
        nbytes = cache_nbytes(past)
        if nbytes <= store.resolve_size(device):  # copy only what the bound can keep
            kept = clone_cache(past, "cpu" if store.offload else None)
            store.put(key, PrefixEntry(kept, length, nbytes), device)
        else:
            store.stats.too_large += 1
    loaded.adapter.positions.reset_position_state(model)  # the suffix's ids come from one pass
    out = model.generate(**_suffix_kwargs(kwargs), cache=past, **gen)
    return out, PrefixOutcome(state, length, computed)
