"""Position ids of one sequence: the models' own rule, with an optional visual step ``delta``.

- 1-D RoPE (LLaVA-OneVision, InternVL): every token +1.
- M-RoPE (Qwen2-VL, Qwen2.5-VL, Wang et al. arXiv 2409.12191; Bai et al. arXiv 2502.13923): text
  tokens share one id on the three rows (t, h, w); a visual run starting after id ``last`` gets
  ``last + 1 + (floor(k * time_interval), i, j)`` for grid cell (k, i, j); text then resumes at
  ``last + 1 + max(h, w)``. This is transformers 5.24's ``get_rope_index`` exactly, including
  its advance of ``max(h, w)`` that ignores ``t`` (older transformers and the Qwen reference code
  resumed after the largest id) and the truncation of time-aligned temporal ids (Qwen2.5-VL);
  the first generated token takes ``max(all ids) + 1``.

With a visual step ``delta`` (V2PE, Ge et al. arXiv 2412.09616, Eq. in §3.2: text +1, visual
+delta), a visual token whose default offset from its run's start is ``o`` (``o = k`` for the
k-th token of a 1-D run; the (t, h, w) offsets for M-RoPE) gets ``last + delta * (1 + o)``, and
text resumes at ``ceil(last + delta * advance) + 1`` where ``advance`` is the run length (1-D) or
``max(h, w)`` (M-RoPE); generation starts at ``ceil(max id) + 1``. ``delta = 1`` is exactly the
default rule. Applying delta to each M-RoPE axis is this toolkit's adaptation (the paper is 1-D).
"""

from __future__ import annotations

import math

import torch

from vlmctx.position.types import TokenLayout, VisualSpan

__all__ = ["base_position_ids", "mrope_visual_offsets"]


def mrope_visual_offsets(run: VisualSpan) -> torch.Tensor:
    """(3, t*h*w) int64 offsets (t, h, w) of a run's tokens from its start id, row-major.

    A pooled run (``run.coords`` set) gives float64 (3, k) offsets: its tokens' cell centres,
    the temporal one floored after the time step like the unpooled ids.

    The temporal offset of grid frame k is ``floor(k * time_interval)`` computed in float32, as
    transformers does with the float32 ``second_per_grid_ts`` of Qwen2.5-VL.
    """
    if run.coords is not None:  # pooled tokens at cell centres: float offsets
        c = run.coords.to(torch.float32)  # (k, 3)
        step = torch.tensor(run.time_interval, dtype=torch.float32)
        return torch.stack([(c[:, 0] * step).floor(), c[:, 1], c[:, 2]]).to(torch.float64)
    t, h, w = run.grid
    if run.time_interval == 1:
        tt = torch.arange(t, dtype=torch.int64)
    else:
        step = torch.tensor(run.time_interval, dtype=torch.float32)
        tt = (torch.arange(t, dtype=torch.int64) * step).long()
    hh, ww = torch.arange(h, dtype=torch.int64), torch.arange(w, dtype=torch.int64)
    grid_t, grid_h, grid_w = torch.meshgrid(tt, hh, ww, indexing="ij")  # each (t, h, w)
    return torch.stack([grid_t, grid_h, grid_w]).reshape(3, -1)  # (3, t*h*w)


def _text_block(last: float, count: int) -> torch.Tensor:
    return last + 1 + torch.arange(count, dtype=torch.float64)


def base_position_ids(
    layout: TokenLayout, mrope: bool, delta: float = 1.0
) -> tuple[torch.Tensor, float]:
    """Float32 ids, (3, n) if ``mrope`` else (n,), and the first generated position.

    ``delta`` is the step of visual tokens (1 = the model's own ids).
    """
    n = layout.n
    out = torch.empty((3, n) if mrope else (n,), dtype=torch.float64)
    last, cursor, top = -1.0, 0, -1.0
    for run in (*layout.runs, None):
        stop = run.start if run is not None else n
        if stop > cursor:  # text between runs
            block = _text_block(last, stop - cursor)
            out[..., cursor:stop] = block
            last, top = float(block[-1]), max(top, float(block[-1]))
        if run is None:
            break
        if mrope:
            offsets = mrope_visual_offsets(run).to(torch.float64)  # (3, t*h*w)
            advance = max(run.grid[1], run.grid[2])
        else:
            offsets = torch.arange(run.length, dtype=torch.float64)
            advance = run.length
        ids = last + delta * (1 + offsets) if delta != 1 else last + 1 + offsets
        out[..., run.start : run.end] = ids
        top = max(top, float(ids.max()))
        last = float(math.ceil(last + delta * advance))
        cursor = run.end
    next_position = float(math.ceil(top) + 1) if n else 0.0
    return out.to(torch.float32), next_position
