"""Subtitles between frames (``interleaved`` placement), the same code for every family: it asks
the family's :class:`~vlmctx.models.contract.SubtitleSplicing` where text may go."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vlmctx.errors import UnsupportedModelError
from vlmctx.models.common import token_counter
from vlmctx.models.contract import Loaded

if TYPE_CHECKING:
    from transformers import BatchFeature

    from vlmctx.video.subtitles import Subtitles
    from vlmctx.video.types import Frames

_SEQUENCE_KEYS = ("input_ids", "attention_mask", "mm_token_type_ids", "token_type_ids")


def interleave_subtitles(
    loaded: Loaded, inputs: BatchFeature, frames: Frames, subtitles: Subtitles
) -> tuple[BatchFeature, dict[str, Any]]:
    """The processor outputs of one video turn with subtitle text put between its frames by
    their true timestamps (:meth:`vlmctx.video.subtitles.Subtitles.blocks`), and a summary.

    The video is encoded exactly as without subtitles (same frames, resolution, pixel values);
    its tokens are cut at temporal-step boundaries and each block's text tokens inserted there.
    For the Qwen families each part becomes a video of its own (its own grid), which is what
    their processors produce for several videos in one prompt.
    """
    splicing = loaded.adapter.subtitles
    step = splicing.temporal_step(loaded)
    pts = [float(t) for t in frames.pts_s]
    groups = [pts[i : i + step] for i in range(0, len(pts), step)]
    step_times = [sum(g) / len(g) for g in groups]  # a step's time: its frames' mean
    count = token_counter(loaded)
    blocks = subtitles.blocks(pts, step_times, count, float(frames.info.duration_s))
    summary: dict[str, Any] = {"placement": "interleaved", "blocks": len(blocks)}
    if not blocks:
        return inputs, {**summary, "cues": 0, "tokens": 0}
    cuts = splicing.cuts(loaded, inputs, len(step_times))
    close, reopen = splicing.wrap_ids(loaded)
    tok = getattr(loaded.processor, "tokenizer", loaded.processor)
    inserts, inner, tokens = [], [], 0
    before, after = splicing.wrap
    for k, lines in blocks:
        text_ids = tok(before + lines + after, add_special_tokens=False)["input_ids"]
        tokens += count(lines)
        inside = 0 < k < len(step_times)
        inserts.append((cuts[k], (close + text_ids + reopen) if inside else text_ids))
        if inside:
            inner.append(k)
    out = _spliced(inputs, inserts)
    out.update(splicing.split_video(loaded, inputs, inner))
    n_cues = sum(len(lines.split("\n")) for _, lines in blocks)
    return out, {**summary, "cues": n_cues, "tokens": tokens}


def _spliced(inputs: BatchFeature, inserts: list[tuple[int, list[int]]]) -> BatchFeature:
    """One-row processor outputs with text token ids inserted at token indices (in order): the
    per-token tensors grow (inserted tokens are attended text), everything else is kept."""
    import torch
    from transformers import BatchFeature

    ids = inputs["input_ids"]
    if ids.shape[0] != 1:
        raise UnsupportedModelError("interleaved subtitles need one sequence at a time")
    n = int(ids.shape[1])
    data = dict(inputs)
    for key in _SEQUENCE_KEYS:
        value = inputs.get(key)
        if value is None or value.ndim != 2 or value.shape[1] != n:
            continue
        parts, cursor = [], 0
        for at, new_ids in inserts:
            parts.append(value[:, cursor:at])
            if key == "input_ids":
                fill = list(new_ids)
            else:  # attended (mask 1), text (token type 0)
                fill = [int(key == "attention_mask")] * len(new_ids)
            parts.append(torch.tensor([fill], dtype=value.dtype))  # (1, k)
            cursor = at
        parts.append(value[:, cursor:])
        data[key] = torch.cat(parts, dim=1)  # (1, n + inserted)
    return BatchFeature(data=data)
