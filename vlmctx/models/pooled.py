"""Apply a pooler (``vlmctx.pooling``) to a model's video embeddings before the language model.

The model's own vision tower + projector encode the frames; each frame's LLM-token grid is pooled
as the pooler plans; the prompt keeps one placeholder per pooled token, and the language model gets
``inputs_embeds`` with the pooled embeddings in those places. For the M-RoPE families a pooled
token's (t, h, w) position is the centre of the cells it replaced, and text after the video resumes
where the unpooled video would have left it (transformers' ``get_rope_index`` rule), so ``none``
reproduces the unpooled model exactly. The pooled sequence's ``TokenLayout`` (pooled runs carry
their cell centres) is what position schemes plan on, so a scheme composes with a pooler: VCWE
counts the pooled visual tokens, V2PE steps the pooled offsets by delta, the frequency schemes
rotate the pooled ids. Single sequence, one video per prompt.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from vlmctx.errors import UnsupportedModelError
from vlmctx.models.base import Loaded
from vlmctx.pooling import Pooler, pool_frames
from vlmctx.position import VIDEO, TokenLayout, VisualRun, base_position_ids
from vlmctx.position.hf import layouts_from_visual_mask


def _runs(mask: torch.Tensor) -> list[tuple[int, int]]:
    """[start, end) of each maximal run of True in a 1-D mask."""
    idx = torch.nonzero(mask).flatten().tolist()
    runs: list[tuple[int, int]] = []
    for i in idx:
        if runs and runs[-1][1] == i:
            runs[-1] = (runs[-1][0], i + 1)
        else:
            runs.append((i, i + 1))
    return runs


def _frame_grids(loaded: Loaded, inputs: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Per-frame embedding grids (t, h, w, d) from the model's own encoder, plus a trailing
    newline embedding for LLaVA-OneVision."""
    model, fam = loaded.model.model, loaded.adapter.family
    cfg = loaded.model.config
    if loaded.adapter.mrope:
        grid = inputs["video_grid_thw"]
        if grid.shape[0] != 1:
            raise UnsupportedModelError("pooling supports one video per prompt")
        m = cfg.vision_config.spatial_merge_size
        t, h, w = int(grid[0, 0]), int(grid[0, 1]) // m, int(grid[0, 2]) // m
        feats = model.get_video_features(inputs["pixel_values_videos"], grid).pooler_output[0]
        return feats.reshape(t, h, w, -1), None  # (t*h*w, d) -> (t, h, w, d)
    if fam == "llava_onevision":
        px = inputs["pixel_values_videos"]
        feats = model.get_video_features(
            px,
            vision_feature_layer=cfg.vision_feature_layer,
            vision_feature_select_strategy=cfg.vision_feature_select_strategy,
        ).pooler_output[0]  # (frames * s * s + 1, d): frame tokens then one newline
        frames = px.shape[1]
        side = int(round(((feats.shape[0] - 1) // frames) ** 0.5))
        return feats[:-1].reshape(frames, side, side, -1), feats[-1]
    if fam == "internvl":
        feats = model.get_image_features(
            pixel_values=inputs["pixel_values"],
            vision_feature_layer=cfg.vision_feature_layer,
            vision_feature_select_strategy=cfg.vision_feature_select_strategy,
        ).pooler_output  # (frames, s * s, d)
        side = int(round(feats.shape[1] ** 0.5))
        return feats.reshape(feats.shape[0], side, side, -1), None
    raise UnsupportedModelError(f"pooling is not implemented for family {fam!r}")


def _pooled_layout(
    loaded: Loaded, inputs: Any, new_ids: torch.Tensor, vis: torch.Tensor, coords: torch.Tensor
) -> TokenLayout:
    """Layout of the pooled sequence: for M-RoPE one video run whose tokens sit at their
    unpooled-grid centres (so every position scheme sees where pooled tokens came from); for 1-D
    families the shortened visual runs."""
    if not loaded.adapter.mrope:
        (layout,) = layouts_from_visual_mask(vis[None])
        return layout
    cfg = loaded.model.config
    ((start, _end),) = _runs(vis)
    interval = 1.0
    if loaded.adapter.family == "qwen2_5_vl" and "second_per_grid_ts" in inputs:
        sec = torch.as_tensor(inputs["second_per_grid_ts"][0], dtype=torch.float32)
        interval = float(sec * cfg.vision_config.tokens_per_second)
    t, h, w = (int(x) for x in inputs["video_grid_thw"][0])
    m = cfg.vision_config.spatial_merge_size
    types = torch.zeros(new_ids.shape[0], dtype=torch.int64)
    types[vis] = VIDEO
    run = VisualRun(start, (t, h // m, w // m), VIDEO, interval, coords.to(torch.float32).cpu())
    return TokenLayout(types, (run,))


@dataclass
class PooledInputs:
    """generate() kwargs with pooled video embeddings, the pooled sequence's ``TokenLayout`` (for
    position schemes) and the visual-token counts before and after pooling."""

    kwargs: dict[str, Any]
    layout: TokenLayout
    before: int
    after: int


def pooled_generate_kwargs(
    loaded: Loaded, inputs: Any, pooler: Pooler
) -> tuple[dict[str, Any], int, int]:
    """generate() kwargs with pooled video embeddings; also visual tokens before and after."""
    pooled = pooled_inputs(loaded, inputs, pooler)
    return pooled.kwargs, pooled.before, pooled.after


def pooled_inputs(loaded: Loaded, inputs: Any, pooler: Pooler) -> PooledInputs:
    """Encode, pool and re-embed one sequence's video (see the module docstring)."""
    if inputs["input_ids"].shape[0] != 1:
        raise UnsupportedModelError("pooling supports one sequence at a time")
    ids = inputs["input_ids"][0]
    placeholder = loaded.adapter.visual_token_ids(loaded)
    vis = torch.isin(ids, torch.tensor(placeholder, device=ids.device))
    before = int(vis.sum())
    emb, newline = _frame_grids(loaded, inputs)
    t, h, w, _ = emb.shape
    plans = pooler.plan(t, h, w)
    tokens, coords = pool_frames(emb, plans)  # (n, d), (n, 3)
    runs = _runs(vis)
    keep = torch.ones_like(ids, dtype=torch.bool)
    if len(runs) == t:  # one run per frame (InternVL): shorten each run
        for (s, e), plan in zip(runs, plans, strict=True):
            keep[s + plan.tokens : e] = False
    else:  # one run for the whole video (Qwen, LLaVA-OV with its trailing newline)
        (s, e), = runs  # fmt: skip
        keep[s + tokens.shape[0] + (newline is not None) : e] = False
    new_ids = ids[keep]
    new_vis = vis[keep]
    visual = tokens if newline is None else torch.cat([tokens, newline[None]])
    embeds = loaded.model.get_input_embeddings()(new_ids[None]).clone()
    embeds[0, new_vis] = visual.to(embeds.dtype)
    kwargs: dict[str, Any] = {
        "input_ids": new_ids[None],
        "inputs_embeds": embeds,
        "attention_mask": torch.ones_like(new_ids)[None],
    }
    layout = _pooled_layout(loaded, inputs, new_ids, new_vis.cpu(), coords)
    if loaded.adapter.mrope:
        kwargs["mm_token_type_ids"] = inputs["mm_token_type_ids"][:, keep]
        pos, _ = base_position_ids(layout, mrope=True)  # (3, n)
        kwargs["position_ids"] = pos[:, None, :].to(new_ids.device)  # (3, 1, n)
    return PooledInputs(kwargs, layout, before, int(new_vis.sum()))
