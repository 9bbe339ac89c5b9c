"""Build ``RopeSpec`` and per-row ``TokenLayout`` from transformers-style configs and inputs.

Duck-typed (no transformers import): ``spec_from_config`` reads a text config's ``head_dim``,
``rope_parameters`` and ``max_position_embeddings``; ``layouts_from_mm_inputs`` turns the
processor outputs of the M-RoPE families (``mm_token_type_ids``, ``image_grid_thw``,
``video_grid_thw``, ``second_per_grid_ts``) into one layout per row, as transformers 5.24's
``get_rope_index`` reads them; ``layouts_from_visual_mask`` does it for 1-D families, where only
the visual runs' extent matters.
"""

from __future__ import annotations

import itertools
from typing import Any

import torch

from vlmctx.errors import ConfigError
from vlmctx.position.types import IMAGE, VIDEO, RopeSpec, TokenLayout

__all__ = ["layouts_from_mm_inputs", "layouts_from_visual_mask", "spec_from_config"]


def spec_from_config(
    text_config: Any,
    family: str = "",
    visual_window: int | None = None,
    mrope_interleaved: bool | None = None,
) -> RopeSpec:
    """RopeSpec of a HF (text) config: rotated width, rope_theta, mrope_section, windows.

    The rotated width is ``head_dim * partial_rotary_factor`` (Qwen3.5 rotates a quarter of each
    head; transformers' ``compute_default_rope_parameters`` does the same). ``mrope_interleaved``
    overrides the config's ``rope_parameters['mrope_interleaved']`` (an adapter whose rotary
    always interleaves, as transformers' Qwen3-VL does, says so whatever the config holds).
    """
    params = dict(getattr(text_config, "rope_parameters", None) or {})
    head_dim = getattr(text_config, "head_dim", None) or (
        text_config.hidden_size // text_config.num_attention_heads
    )
    partial = params.get(
        "partial_rotary_factor", getattr(text_config, "partial_rotary_factor", 1.0)
    )
    if "rope_theta" not in params:
        raise ConfigError(f"config of family {family!r} has no rope_parameters['rope_theta']")
    section = params.get("mrope_section")
    if mrope_interleaved is None:
        mrope_interleaved = bool(params.get("mrope_interleaved", False))
    return RopeSpec(
        head_dim=int(int(head_dim) * float(partial or 1.0)),
        rope_theta=float(params["rope_theta"]),
        max_position_embeddings=int(text_config.max_position_embeddings),
        mrope_section=tuple(section) if section is not None else None,
        original_window=params.get("original_max_position_embeddings"),
        family=family,
        visual_window=visual_window,
        mrope_interleaved=bool(mrope_interleaved) and section is not None,
    )


def _rows(types: torch.Tensor, attention_mask: torch.Tensor | None) -> list[torch.Tensor]:
    if attention_mask is None:
        return list(types)
    return [t[m.bool()] for t, m in zip(types, attention_mask, strict=True)]


def layouts_from_mm_inputs(
    mm_token_type_ids: torch.Tensor,
    spatial_merge_size: int,
    image_grid_thw: torch.Tensor | None = None,
    video_grid_thw: torch.Tensor | None = None,
    attention_mask: torch.Tensor | None = None,
    second_per_grid_ts: torch.Tensor | None = None,
    tokens_per_second: float | None = None,
) -> list[TokenLayout]:
    """One layout per row of a Qwen2-VL / Qwen2.5-VL batch (pads dropped by the mask).

    Grids are the processor's (before spatial merge), consumed in order across the batch per
    modality. Videos get ``time_interval = tokens_per_second * second_per_grid_t`` when
    ``tokens_per_second`` is given (Qwen2.5-VL), else 1 (Qwen2-VL).
    """
    grids = {
        IMAGE: iter(image_grid_thw if image_grid_thw is not None else ()),
        VIDEO: iter(video_grid_thw if video_grid_thw is not None else ()),
    }
    seconds = iter(second_per_grid_ts.tolist() if second_per_grid_ts is not None else ())
    layouts = []
    for row in _rows(mm_token_type_ids, attention_mask):
        row_grids, steps = [], []
        for kind, group in itertools.groupby(row.tolist()):
            left = len(list(group))
            while kind in (IMAGE, VIDEO) and left > 0:
                t, h, w = (int(x) for x in next(grids[kind]))
                merged = (t, h // spatial_merge_size, w // spatial_merge_size)
                row_grids.append(merged)
                left -= merged[0] * merged[1] * merged[2]
                step = 1.0
                if kind == VIDEO and tokens_per_second is not None:
                    sec = next(seconds, 1.0)
                    step = float(torch.tensor(sec, dtype=torch.float32) * tokens_per_second)
                steps.append(step)
        layouts.append(TokenLayout.from_types(row, row_grids, steps))
    return layouts


def layouts_from_visual_mask(
    visual_mask: torch.Tensor, attention_mask: torch.Tensor | None = None, kind: int = VIDEO
) -> list[TokenLayout]:
    """1-D families: each maximal block of visual tokens is one run (grid (1, 1, length))."""
    layouts = []
    for row in _rows(visual_mask.to(torch.int64) * kind, attention_mask):
        runs = [len(list(g)) for k, g in itertools.groupby(row.tolist()) if k]
        layouts.append(TokenLayout.from_types(row, [(1, 1, n) for n in runs]))
    return layouts
