"""Host budget for a streaming session: the host key/value tier and the compact tier beyond it.

A block leaves the device as key/values (the *host tier*: CPU memory, or disk with
``offload="disk"``), exactly as it was encoded, as ReKV keeps it (arXiv 2503.00540). At real
widths that costs tens of MiB per second of video (``docs/streaming.md``, "Tiers"), so a host
budget bounds it: beyond ``(1 - compact_fraction) * host_budget`` the oldest host-tier blocks go
to the *compact tier*, which keeps only what re-encoding needs: the block's frames at the model's
input size (uint8; see :func:`input_size_frames`), its position id and its key summary (for
retrieval). A retrieved compact block is re-encoded at question time at its original position
ids and timestamps (``StreamingSession.reencode``).

The compact tier is itself bounded (``compact_fraction * host_budget``): when full, the two
adjacent entries whose key summaries are most alike are merged into one (MovieChat's
consolidation of similar adjacent frames, Song et al., arXiv 2307.16449; Flash-VStream keeps a
fixed-size memory in the same spirit, arXiv 2406.08085): the merged entry's summary is the
token-weighted mean, and it keeps the frames of the member closer to that mean (the other
member's frames are forgotten; ``covers`` says what time the entry stands for). So host memory
and the number of entries a question scores stay bounded however long the stream runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from vlmctx.errors import ConfigError

if TYPE_CHECKING:
    from vlmctx.streaming.kv_store import Block, KVStore

DEFAULT_HOST_SHARE = 0.5  # of the memory available when a session opens


def default_host_budget() -> int:
    """Half of the memory available now (psutil; ``/proc/meminfo`` or 8 GiB as fallbacks)."""
    try:
        import psutil

        available = int(psutil.virtual_memory().available)
    except ImportError:  # pragma: no cover - psutil ships with the project's environment
        available = _meminfo_available() or 16 * 2**30
    return int(available * DEFAULT_HOST_SHARE)


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def resolve_host_budget(value: int | str | None) -> int | None:
    """``host_budget`` as bytes: an int, a size string ("16GiB"), None (sized from free
    memory) or "none"/"unbounded" (no bound; nothing goes compact)."""
    if value is None:
        return default_host_budget()
    if isinstance(value, str):
        if value.strip().lower() in ("none", "unbounded"):
            return None
        from vlmctx.units import parse_bytes

        try:
            value = parse_bytes(value)
        except ValueError as exc:
            raise ConfigError(f"host_budget: {exc}") from None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"host_budget must be a positive number of bytes, got {value!r}")
    return value


def input_size_frames(frames: np.ndarray, inputs: Any, patch: int | None) -> np.ndarray | None:
    """``frames`` (t, h, w, 3) uint8 resized to the size the processor resized them to (from
    ``video_grid_thw`` x ``patch``) with the processor's own op (bicubic, antialiased); None
    when the family gives no grid. The caller checks once that the processor maps them to the
    same pixel values (``StreamingSession._compact_frames``); where it does not, the frames are
    kept as pushed."""
    grid = inputs.get("video_grid_thw") if hasattr(inputs, "get") else None
    if grid is None or patch is None:
        return None
    import torchvision.transforms.v2.functional as F

    h, w = int(grid[0][1]) * patch, int(grid[0][2]) * patch
    if (h, w) == frames.shape[1:3]:
        return frames
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)
    y = F.resize(x, [h, w], interpolation=F.InterpolationMode.BICUBIC, antialias=True)
    return y.permute(0, 2, 3, 1).contiguous().numpy()


def enforce_host_budget(store: KVStore) -> None:
    """Keep the host tiers under ``store.host_budget``: demote the oldest host-tier blocks to
    the compact tier while the key/value tier and the frames/summaries of the blocks that still
    have key/values exceed their share, then merge compact entries while the compact tier
    exceeds its share."""
    if store.host_budget is None:
        return
    kv_share = int(store.host_budget * (1 - store.compact_fraction))
    compact_share = store.host_budget - kv_share
    sizes = store.tier_bytes()
    kv_side = sizes["host_kv"] + sizes["disk_kv"] + sizes["kept"]
    first = store.compact_count()
    while kv_side > kv_share and first < len(store.offloaded_blocks):
        block = store.offloaded_blocks[first]
        kv_side -= block.kv_bytes() + _file_bytes(block) + block.compact_bytes()
        sizes["compact"] += block.compact_bytes()
        store.demote(block)
        first += 1
    while sizes["compact"] > compact_share and first >= 2:
        sizes["compact"] -= merge_most_similar(store, first)
        first -= 1


def _file_bytes(block: Block) -> int:
    return block.path.stat().st_size if block.path is not None else 0


def adjacent_similarity(keys: torch.Tensor) -> torch.Tensor:
    """(n - 1,) cosine similarity of each entry's flattened key summary with the next one's."""
    flat = torch.nn.functional.normalize(keys.reshape(keys.shape[0], -1), dim=1)
    return (flat[:-1] * flat[1:]).sum(dim=1)


def merge_most_similar(store: KVStore, count: int) -> int:
    """Merge the two adjacent compact entries (among the first ``count`` offloaded blocks)
    whose summaries are most alike; returns the bytes freed."""
    from dataclasses import replace

    blocks = store.offloaded_blocks
    keys = store.key_summaries()[:count]
    i = int(torch.argmax(adjacent_similarity(keys)))
    a, b = blocks[i], blocks[i + 1]
    mean = (a.key_summary * a.n + b.key_summary * b.n) / (a.n + b.n)
    closer = torch.nn.functional.cosine_similarity(
        torch.stack([a.key_summary.flatten(), b.key_summary.flatten()]), mean.flatten()[None]
    )
    keep, drop = (a, b) if closer[0] >= closer[1] else (b, a)
    spans = [x.covers or x.span() for x in (a, b)]
    merged = replace(
        keep,
        key_summary=mean,
        covers=(min(s[0] for s in spans), max(s[1] for s in spans)),
        merged=a.merged + b.merged,
    )
    before = a.compact_bytes() + b.compact_bytes()
    drop.frames = None
    store.replace_rows(i, merged)
    store.merges += 1
    return before - merged.compact_bytes()
