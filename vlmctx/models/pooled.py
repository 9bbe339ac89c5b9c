"""Apply a pooler (``vlmctx.pooling``) to a model's video embeddings before the language model.

The model's own vision tower + projector encode the frames (``adapter.pooled.visual_features``); each
frame's LLM-token grid is pooled as the pooler says; the prompt keeps one placeholder per pooled
token, and the language model gets ``inputs_embeds`` with the pooled embeddings in those places.
The adapter places pooled tokens: for the M-RoPE families a pooled token's (t, h, w) position is
the centre of the cells it replaced, and text after the video resumes where the unpooled video
would have left it (transformers' ``get_rope_index`` rule), so ``none`` reproduces the unpooled
model exactly. The pooled sequence's ``TokenLayout`` is what position schemes plan on, so a scheme
composes with a pooler: VCWE counts the pooled visual tokens, V2PE steps the pooled offsets by
delta, the frequency schemes rotate the pooled ids. Extra feature levels the language model reads
at the visual positions (``VisualFeatures.levels``: Qwen3-VL's DeepStack, arXiv 2511.21631) are
pooled with the same per-frame plans, and the adapter says how the embeddings reach the model
(``adapter.pooled.pooled_embeddings``). Single sequence, one video per prompt. Nothing here knows a
family: it is the same code for every adapter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from vlmctx.errors import UnsupportedModelError
from vlmctx.models.common import visual_runs
from vlmctx.models.contract import Loaded, VisualFeatures
from vlmctx.pooling import Pooler, pool_frames
from vlmctx.position import TokenLayout

if TYPE_CHECKING:
    from transformers import BatchFeature


@dataclass
class PooledInputs:
    """generate() kwargs with pooled video embeddings, the pooled sequence's ``TokenLayout`` (for
    position schemes) and the visual-token counts before and after pooling."""

    kwargs: dict[str, Any]
    layout: TokenLayout
    before: int
    after: int
    features: VisualFeatures | None = None  # the encoder's output (the prefix cache keeps it)


def pooled_generate_kwargs(
    loaded: Loaded, inputs: BatchFeature, pooler: Pooler
) -> tuple[dict[str, Any], int, int]:
    """generate() kwargs with pooled video embeddings; also visual tokens before and after."""
    pooled = pooled_inputs(loaded, inputs, pooler)
    return pooled.kwargs, pooled.before, pooled.after


def _kept_tokens(
    vis: torch.Tensor, frame_tokens: list[int], pooled: int, trailing: bool
) -> torch.Tensor:
    """Which input tokens stay: each frame's run shortened to its pooled size when the prompt
    has one run per frame (InternVL), else the one video run cut to the pooled count."""
    keep = torch.ones_like(vis, dtype=torch.bool)
    runs = visual_runs(vis)
    if len(runs) == len(frame_tokens) and len(runs) > 1:
        for (s, e), n in zip(runs, frame_tokens, strict=True):
            keep[s + n : e] = False
    elif len(runs) == 1:
        ((s, e),) = runs
        keep[s + pooled + trailing : e] = False
    else:
        raise UnsupportedModelError("pooling supports one video per prompt")
    return keep


def pooled_inputs(
    loaded: Loaded, inputs: BatchFeature, pooler: Pooler, features: VisualFeatures | None = None
) -> PooledInputs:
    """Encode, pool and re-embed one sequence's video (see the module docstring).

    ``features``: the encoder's output for this video from an earlier call (the prefix cache's),
    so the vision tower does not run again."""
    adapter = loaded.adapter
    path = adapter.pooled
    if inputs["input_ids"].shape[0] != 1:
        raise UnsupportedModelError("pooling supports one sequence at a time")
    ids = inputs["input_ids"][0]
    vis = adapter.tokens.visual_mask(loaded, ids)
    before = int(vis.sum())
    feats = features if features is not None else path.visual_features(loaded, inputs)
    t, h, w, _ = feats.grid.shape
    plans = pooler.per_frame(t, h, w)
    tokens, coords = pool_frames(feats.grid, plans)  # (n, d), (n, 3)
    trailing = feats.trailing is not None
    keep = _kept_tokens(vis, [p.tokens for p in plans], tokens.shape[0], trailing)
    new_ids, new_vis = ids[keep], vis[keep]
    visual = torch.cat([tokens, feats.trailing[None]]) if trailing else tokens
    levels = [pool_frames(level, plans)[0] for level in feats.levels]  # each (n, d')
    layout = path.pooled_layout(loaded, inputs, new_ids, new_vis.cpu(), coords)
    kwargs: dict[str, Any] = {
        "input_ids": new_ids[None],
        **path.pooled_embeddings(loaded, new_ids, new_vis, visual, levels),
        "attention_mask": torch.ones_like(new_ids)[None],
        **path.pooled_kwargs(loaded, inputs, keep, layout),
    }
    return PooledInputs(kwargs, layout, before, int(new_vis.sum()), feats)
