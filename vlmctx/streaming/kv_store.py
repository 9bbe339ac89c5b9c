"""The session's key/value memory in three tiers: a device cache of sinks and recent frame blocks,
offloaded blocks' key/values (CPU memory or disk: the host tier) and, beyond the host budget, the
compact tier (each block's key summary and its frames, re-encoded when retrieved; ``tiers.py``).

The device part is a transformers ``DynamicCache`` whose per-layer tensors hold, in order::

    [ sinks | resident block 1 | ... | resident block m ]   (+ retrieved blocks, question and
                                                               answer while a question runs)

Cached keys already carry their rotary positions, so a block is moved, dropped or brought back by
slicing per-layer key/value tensors (b, kv_heads, n, d) along ``n``; its tokens attend exactly as
they were encoded, wherever they sit in the cache (attention over cached tokens does not depend
on their order). transformers 5 removed ``SinkCache`` (#41107), so eviction lives here. It needs
full-attention layers (``DynamicLayer``): sliding-window or quantised caches are refused.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vlmctx.errors import UnsupportedModelError
from vlmctx.video.types import Frames

KV = list[tuple[torch.Tensor, torch.Tensor]]  # per layer: keys, values (1, kv_heads, n, d)


@dataclass
class Block:
    """One pushed chunk: which frames, how many tokens, and its retrieval summary.

    ``key_summary``: (layers, kv_heads, d) float32 on CPU, the mean pre-rotary key of the
    block's tokens (see ``retrieval.py``). ``kv``: the offloaded keys/values (CPU) or None while
    resident; ``path``: the file holding them when offloaded to disk. ``tier``: where its
    keys/values live: ``device``, ``host`` (CPU memory), ``disk`` or ``compact`` (none kept: the
    block is re-encoded from ``frames``, uint8 (t, h, w, 3) kept at the model's input size, at its
    original ``start`` position id when retrieved). ``covers``: the stream time the entry stands
    for (wider than its own frames once the compact tier merged neighbours into it).
    """

    id: int
    indices: np.ndarray  # (t,) frame indices in the source
    pts_s: np.ndarray  # (t,) presentation times in seconds
    n: int
    key_summary: torch.Tensor
    kv: KV | None = field(default=None, repr=False)
    path: Path | None = None
    start: int = 0  # the position id the block's first token was placed at (prompt.place)
    frames: Frames | None = field(default=None, repr=False)
    tier: str = "device"
    covers: tuple[float, float] | None = None
    merged: int = 1  # original blocks this entry stands for (compact tier merges)

    @property
    def offloaded(self) -> bool:
        return self.tier != "device"

    def span(self) -> tuple[float, float]:
        return float(self.pts_s[0]), float(self.pts_s[-1])

    def kv_bytes(self) -> int:
        return sum(k.nbytes + v.nbytes for k, v in self.kv) if self.kv else 0

    def compact_bytes(self) -> int:
        """Bytes the block keeps whatever its tier: frames, key summary, indices and times."""
        frames = 0 if self.frames is None else self.frames.data.nbytes
        summary = self.key_summary.numel() * self.key_summary.element_size()
        return frames + summary + self.indices.nbytes + self.pts_s.nbytes


class KVStore:
    """Device cache + offloaded blocks. Not thread-safe: the session serialises calls."""

    def __init__(
        self,
        offload: str = "cpu",
        offload_dir: str | os.PathLike[str] | None = None,
        host_budget: int | None = None,
        compact_fraction: float = 0.5,
    ):
        from transformers import DynamicCache

        if offload not in ("cpu", "disk"):
            raise ValueError(f"offload must be 'cpu' or 'disk', got {offload!r}")
        self.cache = DynamicCache()
        self.offload = offload
        self.offload_dir = Path(offload_dir) if offload_dir is not None else None
        # host budget: the host KV tier (CPU or disk) plus every block's compact part stay under
        # it; None = no bound (nothing goes compact). See tiers.enforce_host_budget.
        self.host_budget = host_budget
        self.compact_fraction = compact_fraction
        self.warned: set[str] = set()  # faults warned about once per session
        self.merges = 0  # compact-tier merges so far
        self.sinks = 0  # tokens at the start that are never evicted
        self.resident: list[Block] = []  # on the device, oldest first
        self.offloaded_blocks: list[Block] = []  # oldest first: compact entries, then host
        # offloaded blocks' key summaries stacked, rows in offloaded_blocks order; capacity grows
        # by doubling, so a question never re-stacks the whole history (see key_summaries)
        self._keys: torch.Tensor | None = None
        self._keys_filled = 0

    # ---- sizes ---------------------------------------------------------------------------------
    def length(self) -> int:
        """Tokens in the device cache now."""
        return int(self.cache.get_seq_length()) if self.cache.layers else 0

    def resident_tokens(self) -> int:
        return sum(b.n for b in self.resident)

    def device_bytes(self) -> int:
        """Bytes of key/value storage the device cache holds (storage, not views)."""
        total = 0
        for layer in self.cache.layers:
            for t in (getattr(layer, "keys", None), getattr(layer, "values", None)):
                if t is not None:
                    total += t.untyped_storage().nbytes()
        return total

    def offloaded_bytes(self) -> int:
        """Bytes of offloaded blocks' keys/values held in CPU memory (disk blocks not counted)."""
        return sum(b.kv_bytes() for b in self.offloaded_blocks)

    def disk_bytes(self) -> int:
        """Bytes of offloaded blocks' keys/values in files."""
        return sum(b.path.stat().st_size for b in self.offloaded_blocks if b.path is not None)

    def compact_count(self) -> int:
        """Compact entries: a prefix of ``offloaded_blocks`` (blocks go compact oldest first)."""
        n = 0
        for b in self.offloaded_blocks:
            if b.tier != "compact":
                break
            n += 1
        return n

    def tier_bytes(self) -> dict[str, int]:
        """Host-side bytes per tier: ``host_kv`` (CPU), ``disk_kv``, ``compact`` (frames and
        key summaries of compact entries) and ``kept`` (the same parts of device and host-tier
        blocks, which they keep to go compact later)."""
        compact = sum(b.compact_bytes() for b in self.offloaded_blocks if b.tier == "compact")
        kept = sum(b.compact_bytes() for b in (*self.resident, *self.offloaded_blocks))
        return {
            "host_kv": self.offloaded_bytes(),
            "disk_kv": self.disk_bytes(),
            "compact": compact,
            "kept": kept - compact,
        }

    def check_layers(self) -> None:
        """Refuse caches whose layers cannot be sliced freely (sliding window, quantised)."""
        from transformers.cache_utils import DynamicLayer

        for layer in self.cache.layers:
            if type(layer) is not DynamicLayer:
                raise UnsupportedModelError(
                    f"streaming needs full-attention cache layers; this model uses "
                    f"{type(layer).__name__}"
                )

    # ---- changes -------------------------------------------------------------------------------
    def truncate(self, length: int) -> None:
        """Drop everything after the first ``length`` tokens (a question, a failed push),
        copying so the dropped part's storage is freed."""
        if self.length() <= length:
            return
        for layer in self.cache.layers:
            layer.keys = layer.keys[:, :, :length].clone()
            layer.values = layer.values[:, :, :length].clone()

    def evict(self, count: int) -> list[Block]:
        """Offload the ``count`` oldest resident blocks and remove them from the device cache."""
        gone, self.resident = self.resident[:count], self.resident[count:]
        if not gone:
            return []
        start = self.sinks
        end = start + sum(b.n for b in gone)  # evicted blocks are contiguous after the sinks
        n0 = start
        for block in gone:
            kv = [
                (
                    layer.keys[:, :, n0 : n0 + block.n].to("cpu", copy=True),
                    layer.values[:, :, n0 : n0 + block.n].to("cpu", copy=True),
                )
                for layer in self.cache.layers
            ]
            self._offload(block, kv)
            n0 += block.n
        for layer in self.cache.layers:
            layer.keys = torch.cat([layer.keys[:, :, :start], layer.keys[:, :, end:]], dim=2)
            layer.values = torch.cat([layer.values[:, :, :start], layer.values[:, :, end:]], dim=2)
        self.offloaded_blocks.extend(gone)
        from vlmctx.streaming.tiers import enforce_host_budget

        enforce_host_budget(self)
        return gone

    def _offload(self, block: Block, kv: KV) -> None:
        if self.offload == "cpu":
            block.kv, block.tier = kv, "host"
            return
        folder = self.offload_dir
        if folder is None:
            raise ValueError("offload='disk' needs offload_dir")
        path = folder / f"block-{block.id:08d}.pt"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            torch.save({"kv": kv}, path)
        except (OSError, RuntimeError) as exc:  # a full disk, a lost mount, a bad folder
            if path.parent.is_dir():
                path.unlink(missing_ok=True)  # a partial file
            self.demote(block, f"could not write offloaded keys/values to {folder} ({exc})")
            return
        block.path, block.tier = path, "disk"

    def demote(self, block: Block, why: str | None = None) -> None:
        """Move a block to the compact tier: its keys/values are dropped (file deleted); it is
        re-encoded from its frames when retrieved. ``why``: a fault, warned about once."""
        if why is not None and "write" not in self.warned:
            self.warned.add("write")
            warnings.warn(
                f"{why}; offloaded blocks go to the compact tier (re-encoded from their frames "
                "when retrieved) from now on",
                RuntimeWarning,
                stacklevel=2,
            )
        block.kv = None
        if block.path is not None:
            block.path.unlink(missing_ok=True)
            block.path = None
        block.tier = "compact"
        if block.covers is None:
            block.covers = block.span()

    def fetch(self, block: Block, device: Any) -> KV:
        """An offloaded (host or disk tier) block's keys/values on ``device``."""
        if block.kv is not None:
            return [(k.to(device), v.to(device)) for k, v in block.kv]
        if block.path is None:
            raise ValueError(f"block {block.id} has no stored keys/values (tier {block.tier})")
        return torch.load(block.path, map_location=device)["kv"]

    def append(self, kv: KV) -> None:
        """Append keys/values (retrieved blocks) at the end of the device cache."""
        for layer, (k, v) in zip(self.cache.layers, kv, strict=True):
            layer.keys = torch.cat([layer.keys, k.to(layer.keys.dtype)], dim=2)
            layer.values = torch.cat([layer.values, v.to(layer.values.dtype)], dim=2)

    def key_summaries(self) -> torch.Tensor:
        """(offloaded blocks, layers, kv_heads, d): every offloaded block's key summary, in
        ``offloaded_blocks`` order. Kept stacked and extended as blocks are offloaded (amortised
        O(1) per block), so scoring at a question costs one product, not a re-stack of the whole
        stream's history (which grew the ask time with the stream's length)."""
        n = len(self.offloaded_blocks)
        if n == 0:
            raise ValueError("no offloaded blocks")
        first = self.offloaded_blocks[0].key_summary
        if self._keys is None or self._keys.shape[0] < n or self._keys.shape[1:] != first.shape:
            grown = torch.empty(
                (max(n, 2 * self._keys_filled, 64), *first.shape), dtype=first.dtype
            )
            if self._keys is not None and self._keys.shape[1:] == first.shape:
                grown[: self._keys_filled] = self._keys[: self._keys_filled]
            else:
                self._keys_filled = 0
            self._keys = grown
        for i in range(self._keys_filled, n):
            self._keys[i] = self.offloaded_blocks[i].key_summary
        self._keys_filled = n
        return self._keys[:n]

    def replace_rows(self, i: int, merged: Block) -> None:
        """Entries ``i`` and ``i + 1`` of ``offloaded_blocks`` became ``merged`` (compact-tier
        merge): update the stacked summaries in place (an O(entries) shift, no re-stack)."""
        self.key_summaries()  # bring the stack up to date first
        n = self._keys_filled
        keys = self._keys
        assert keys is not None
        keys[i] = merged.key_summary
        keys[i + 1 : n - 1] = keys[i + 2 : n].clone()
        self._keys_filled = n - 1
        self.offloaded_blocks[i : i + 2] = [merged]

    def clear(self) -> None:
        """Free every tier (session closed): device cache, host keys/values, disk files, frames
        and summaries of compact entries."""
        for block in (*self.resident, *self.offloaded_blocks):
            block.kv, block.frames = None, None
            if block.path is not None:
                block.path.unlink(missing_ok=True)
                block.path = None
        self.resident, self.offloaded_blocks = [], []
        self._keys, self._keys_filled = None, 0
        self.cache.layers.clear()
