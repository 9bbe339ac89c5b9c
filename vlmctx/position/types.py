"""Inputs and outputs of the position schemes: ``RopeSpec``, ``TokenLayout``, ``Positions``.

A scheme sees only these: what the model's RoPE is (``RopeSpec``), where the visual tokens of one
sequence are and what grid they form (``TokenLayout``), and it returns float position ids plus the
rotary frequency tables to use (``Positions``). ``batch_positions`` stacks per-sequence positions
into the (3|1, b, n) tensors, ``rope_deltas`` and per-token group ids a model call needs, with padding.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from vlmctx.errors import ConfigError

TEXT, IMAGE, VIDEO = 0, 1, 2

__all__ = [
    "IMAGE",
    "TEXT",
    "VIDEO",
    "BatchedPositions",
    "Positions",
    "RopeSpec",
    "TokenLayout",
    "VisualSpan",
    "batch_positions",
]


@dataclass(frozen=True)
class RopeSpec:
    """The language model's rotary configuration, as read from its HF config.

    ``mrope_section`` is None for 1-D RoPE families (LLaVA-OneVision, InternVL) and the three
    chunk sizes (t, h, w) summing to head_dim/2 for M-RoPE (Qwen2-VL [16, 24, 24]).
    ``original_window`` is the language context the model was trained for (defaults to
    ``max_position_embeddings``); the baselines' automatic factor is relative to it.
    ``family`` (e.g. "qwen2_vl") selects per-family defaults such as VCWE's visual window;
    ``visual_window``, when a checkpoint declares it (``vlmctx.json``), overrides that default.
    ``mrope_interleaved``: the t/h/w frequencies are interleaved (Qwen3-VL, Qwen3.5; arXiv
    2511.21631 §2.1) instead of contiguous chunks. ``head_dim`` is the rotated width: Qwen3.5
    rotates only ``head_dim * partial_rotary_factor`` channels of each head.
    """

    head_dim: int
    rope_theta: float
    max_position_embeddings: int
    mrope_section: tuple[int, ...] | None = None
    original_window: int | None = None
    family: str = ""
    visual_window: int | None = None
    mrope_interleaved: bool = False

    def __post_init__(self) -> None:
        if self.head_dim % 2 or self.head_dim <= 2:
            raise ConfigError(f"head_dim must be even and > 2, got {self.head_dim}")
        if self.mrope_section is not None:
            section = tuple(int(x) for x in self.mrope_section)
            if len(section) != 3 or sum(section) != self.head_dim // 2:
                raise ConfigError(
                    f"mrope_section {list(section)} must have 3 parts summing to head_dim/2 = "
                    f"{self.head_dim // 2}"
                )
            object.__setattr__(self, "mrope_section", section)

    @property
    def is_mrope(self) -> bool:
        return self.mrope_section is not None

    @property
    def window(self) -> int:
        """The trained language window used by automatic factors."""
        return int(self.original_window or self.max_position_embeddings)


@dataclass(frozen=True)
class VisualSpan:
    """One image or video in the sequence: ``length = t*h*w`` consecutive tokens from ``start``.

    ``grid`` is the LLM-token grid (t, h, w) AFTER spatial merge (and temporal patching).
    ``time_interval`` is the temporal-id step per grid frame: 1 for Qwen2-VL and images;
    ``tokens_per_second * second_per_grid_t`` for Qwen2.5-VL videos (time-aligned M-RoPE).
    ``coords`` (float32 (k, 3): grid frame, row, column), when set, says the run holds k pooled
    tokens, each at the centre of the cells of ``grid`` it replaced (``vlmctx.pooling``); ``grid``
    stays the unpooled grid, so text after the run resumes where the unpooled video would leave it.
    """

    start: int
    grid: tuple[int, int, int]
    kind: int = VIDEO
    time_interval: float = 1.0
    coords: torch.Tensor | None = field(default=None, compare=False, repr=False)

    @property
    def length(self) -> int:
        if self.coords is not None:
            return int(self.coords.shape[0])
        t, h, w = self.grid
        return t * h * w

    @property
    def end(self) -> int:
        return self.start + self.length


@dataclass(frozen=True)
class TokenLayout:
    """Token types of one (unpadded) sequence and its visual runs in order.

    ``token_type``: (n,) int64, 0 text, 1 image, 2 video. Build it with :meth:`from_types`.
    """

    token_type: torch.Tensor
    runs: tuple[VisualSpan, ...] = ()

    @property
    def n(self) -> int:
        return int(self.token_type.shape[0])

    @property
    def n_visual(self) -> int:
        return sum(r.length for r in self.runs)

    @property
    def n_text(self) -> int:
        return self.n - self.n_visual

    @classmethod
    def text_only(cls, n: int) -> TokenLayout:
        return cls(torch.zeros(n, dtype=torch.int64), ())

    @classmethod
    def from_types(
        cls,
        token_type: torch.Tensor | Sequence[int],
        grids: Sequence[Sequence[int]] = (),
        time_intervals: Sequence[float] | None = None,
    ) -> TokenLayout:
        """Pair each maximal block of visual tokens with the next grids, in order.

        ``grids``: (t, h, w) per image/video, merged LLM-token grids, in sequence order (images
        and videos interleaved as they appear). ``time_intervals``: one per grid (default 1).
        A block holding several back-to-back items of one type is split by their token counts.
        """
        types = torch.as_tensor(token_type, dtype=torch.int64).reshape(-1)
        grids = [tuple(int(x) for x in g) for g in grids]
        steps = list(time_intervals) if time_intervals is not None else [1.0] * len(grids)
        if len(steps) != len(grids):
            raise ConfigError(f"{len(steps)} time_intervals for {len(grids)} grids")
        runs: list[VisualSpan] = []
        k, pos = 0, 0
        for kind, group in itertools.groupby(types.tolist()):
            size = len(list(group))
            end = pos + size
            while kind != TEXT and pos < end:
                if k >= len(grids):
                    raise ConfigError("more visual tokens than the grids account for")
                run = VisualSpan(pos, grids[k], kind, float(steps[k]))  # type: ignore[arg-type]
                if run.end > end:
                    raise ConfigError(
                        f"visual block at {pos} has {end - pos} tokens, grid {grids[k]} "
                        f"needs {run.length}"
                    )
                runs.append(run)
                pos, k = run.end, k + 1
            pos = end
        if k != len(grids):
            raise ConfigError(f"{len(grids) - k} grid(s) have no visual tokens in the sequence")
        return cls(types, tuple(runs))


@dataclass
class Positions:
    """What a scheme decided for one sequence.

    ``position_ids``: float32 (3, n) for M-RoPE families, (n,) for 1-D RoPE.
    ``next_position``: ``ceil(max id) + 1``, the first generated position of transformers'
    ``rope_deltas`` path (``rope_delta = next_position - n``, as ``get_rope_index`` returns it).
    ``generate_next``: ``ceil(last token's id) + 1``, where transformers 5.24 ``generate()``
    continues (it appends ``position_ids[..., -1:] + 1``). The two differ for M-RoPE when a
    video's temporal ids run past the text that follows it (transformers' advance of max(h, w)).
    ``inv_freq``: (g, d/2) float32, one frequency table per token group; ``attention_scaling``:
    (g,) cos/sin multiplier per group. ``token_group``: (n,) int64 group of each token, or None
    when g == 1. Group 0 is the text group, used for every generated token.
    """

    position_ids: torch.Tensor
    next_position: float
    inv_freq: torch.Tensor
    attention_scaling: torch.Tensor
    token_group: torch.Tensor | None = None
    info: dict | None = None

    @property
    def n(self) -> int:
        return int(self.position_ids.shape[-1])

    @property
    def rope_delta(self) -> float:
        return self.next_position - self.n

    @property
    def generate_next(self) -> float:
        return float(torch.ceil(self.position_ids[..., -1].max()).item() + 1) if self.n else 0.0

    @property
    def groups(self) -> int:
        return int(self.inv_freq.shape[0])


@dataclass
class BatchedPositions:
    """Positions of a padded batch in model-ready form.

    ``position_ids``: float32 (3, b, L) for M-RoPE or (b, L) for 1-D (pads hold 0, as
    transformers' ``get_rope_index``). ``rope_deltas``: (b, 1) float32. ``inv_freq``: (G, d/2)
    and ``attention_scaling``: (G,) tables over all distinct groups of the batch;
    ``token_group``: (b, L) int64 into them (None when G == 1); ``text_group``: (b,) the group of
    each row's generated tokens.
    """

    position_ids: torch.Tensor
    rope_deltas: torch.Tensor
    inv_freq: torch.Tensor
    attention_scaling: torch.Tensor
    token_group: torch.Tensor | None
    text_group: torch.Tensor


def _dedupe_tables(per_sequence: Sequence[Positions]) -> tuple[torch.Tensor, torch.Tensor, list]:
    """Distinct (inv_freq row, scaling) pairs across sequences, and each sequence's row -> table
    map."""
    rows: list[torch.Tensor] = []
    scales: list[torch.Tensor] = []
    maps: list[torch.Tensor] = []
    for positions in per_sequence:
        idx = []
        for g in range(positions.groups):
            row, sc = positions.inv_freq[g], positions.attention_scaling[g]
            hit = next(
                (
                    i
                    for i, (r, s) in enumerate(zip(rows, scales, strict=True))
                    if torch.equal(r, row) and torch.equal(s, sc)
                ),
                None,
            )
            if hit is None:
                rows.append(row)
                scales.append(sc)
                hit = len(rows) - 1
            idx.append(hit)
        maps.append(torch.tensor(idx, dtype=torch.int64))
    return torch.stack(rows), torch.stack(scales), maps


def batch_positions(
    per_sequence: Sequence[Positions], attention_mask: torch.Tensor
) -> BatchedPositions:
    """Scatter per-sequence positions into a padded batch (left or right padding).

    ``attention_mask``: (b, L) with ``mask[i].sum() == per_sequence[i].n``; their tokens go, in
    order, to the positions where the mask is 1.
    """
    mask = attention_mask.bool()
    b, length = mask.shape
    if len(per_sequence) != b:
        raise ConfigError(f"positions of {len(per_sequence)} sequences for a batch of {b}")
    mrope = per_sequence[0].position_ids.ndim == 2
    inv, scale, maps = _dedupe_tables(per_sequence)
    pos = torch.zeros((3, b, length) if mrope else (b, length), dtype=torch.float32)
    group = torch.zeros(b, length, dtype=torch.int64)
    text_group = torch.zeros(b, dtype=torch.int64)
    for i, positions in enumerate(per_sequence):
        if int(mask[i].sum()) != positions.n:
            raise ConfigError(
                f"row {i}: mask has {int(mask[i].sum())} tokens, positions have {positions.n}"
            )
        if mrope:
            pos[:, i, mask[i]] = positions.position_ids
        else:
            pos[i, mask[i]] = positions.position_ids
        own = (
            positions.token_group
            if positions.token_group is not None
            else torch.zeros(positions.n).long()
        )
        group[i] = maps[i][0]
        group[i, mask[i]] = maps[i][own]
        text_group[i] = maps[i][0]
    deltas = torch.tensor([[p.rope_delta] for p in per_sequence], dtype=torch.float32)
    token_group = group if inv.shape[0] > 1 else None
    return BatchedPositions(pos, deltas, inv, scale, token_group, text_group)
