"""The session's key/value memory: a device cache of sinks and recent frame blocks, and the
offloaded blocks (CPU memory or disk) that retrieval brings back.

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vlmctx.errors import UnsupportedModelError

KV = list[tuple[torch.Tensor, torch.Tensor]]  # per layer: keys, values (1, kv_heads, n, d)


@dataclass
class Block:
    """One pushed chunk: which frames, how many tokens, and its retrieval summary.

    ``key_summary``: (layers, kv_heads, d) float32 on CPU, the mean pre-rotary key of the
    block's tokens (see ``retrieval.py``). ``kv``: the offloaded keys/values (CPU) or None while
    resident; ``path``: the file holding them when offloaded to disk.
    """

    id: int
    indices: np.ndarray  # (t,) frame indices in the source
    pts_s: np.ndarray  # (t,) presentation times in seconds
    n: int
    key_summary: torch.Tensor
    kv: KV | None = field(default=None, repr=False)
    path: Path | None = None

    @property
    def offloaded(self) -> bool:
        return self.kv is not None or self.path is not None

    def span(self) -> tuple[float, float]:
        return float(self.pts_s[0]), float(self.pts_s[-1])


class KVStore:
    """Device cache + offloaded blocks. Not thread-safe: the session serialises calls."""

    def __init__(self, offload: str = "cpu", offload_dir: str | os.PathLike[str] | None = None):
        from transformers import DynamicCache

        if offload not in ("cpu", "disk"):
            raise ValueError(f"offload must be 'cpu' or 'disk', got {offload!r}")
        self.cache = DynamicCache()
        self.offload = offload
        self.offload_dir = Path(offload_dir) if offload_dir is not None else None
        self.sinks = 0  # tokens at the start that are never evicted
        self.resident: list[Block] = []  # on the device, oldest first
        self.offloaded_blocks: list[Block] = []  # oldest first
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
        """Bytes of offloaded blocks held in CPU memory (disk blocks not counted)."""
        return sum(k.nbytes + v.nbytes for b in self.offloaded_blocks if b.kv for k, v in b.kv)

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
        return gone

    def _offload(self, block: Block, kv: KV) -> None:
        if self.offload == "cpu":
            block.kv = kv
            return
        folder = self.offload_dir
        if folder is None:
            raise ValueError("offload='disk' needs offload_dir")
        folder.mkdir(parents=True, exist_ok=True)
        block.path = folder / f"block-{block.id:08d}.pt"
        torch.save({"kv": kv}, block.path)

    def fetch(self, block: Block, device: Any) -> KV:
        """An offloaded block's keys/values on ``device``."""
        if block.kv is not None:
            return [(k.to(device), v.to(device)) for k, v in block.kv]
        if block.path is None:
            raise ValueError(f"block {block.id} is resident, not offloaded")
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

    def clear(self) -> None:
        """Free everything (session closed); disk blocks are deleted."""
        for block in self.offloaded_blocks:
            block.kv = None
            if block.path is not None:
                block.path.unlink(missing_ok=True)
        self.resident, self.offloaded_blocks = [], []
        self._keys, self._keys_filled = None, 0
        self.cache.layers.clear()
