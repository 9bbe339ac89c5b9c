"""Apply a position scheme (``vlmctx.position``) to a loaded HF model for one generate() call.

No transformers model file is forked: we compute the scheme's float position ids from the
processor outputs, pass them to ``generate(position_ids=...)`` (transformers continues them by +1
per new token), and swap the language model's rotary module for
:class:`~vlmctx.position.PlannedRotaryEmbedding`, which carries the scheme's per-group frequency
tables. The original rotary module is put back afterwards, so the same weights can serve another
scheme next (side-by-side comparisons on one model). ``default`` leaves the model untouched.
An attention mask is always passed with fractional ids (transformers otherwise mistakes them for
packed sequences; see docs/positions.md). Pitfall found here: in transformers 5.24 ``generate``
does not hand an all-ones attention mask down to a LLaVA-OneVision/InternVL language model, so
``generate(use_cache=False)`` with fractional ids silently builds a block-diagonal "packed" mask.
vlmctx always generates with the KV cache; a full-recompute decode must call ``model(...)`` with
an explicit mask (the tests do).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from vlmctx.config import ContextConfig
from vlmctx.models.base import Loaded


def _language_model(model: Any) -> Any:
    return model.model.language_model


def _layouts(loaded: Loaded, inputs: Any, mask: Any) -> list[Any]:
    """One ``TokenLayout`` per row, read from processor outputs (pads dropped by ``mask``)."""
    from vlmctx.position import layouts_from_mm_inputs, layouts_from_visual_mask

    model, adapter = loaded.model, loaded.adapter
    if adapter.mrope:
        vision = model.config.vision_config
        layouts = layouts_from_mm_inputs(
            inputs["mm_token_type_ids"],
            vision.spatial_merge_size,
            inputs.get("image_grid_thw"),
            inputs.get("video_grid_thw"),
            mask,
            inputs.get("second_per_grid_ts"),
            tokens_per_second=getattr(vision, "tokens_per_second", None)
            if adapter.family == "qwen2_5_vl"
            else None,
        )
    else:
        ids = adapter.visual_token_ids(loaded)
        visual = sum((inputs["input_ids"] == i) for i in ids).bool()
        layouts = layouts_from_visual_mask(visual, mask)
    return layouts


def plan_for_inputs(
    loaded: Loaded, inputs: Any, config: ContextConfig, layouts: list[Any] | None = None
) -> tuple[Any, dict]:
    """The scheme's batched positions for these processor outputs, and its info for results.

    ``layouts`` (one ``TokenLayout`` per row) overrides the layouts read from ``inputs``; the
    pooled path passes the pooled sequence's layout so the scheme plans on the pooled tokens.
    """
    from vlmctx.position import POSITIONS, batch_plans, spec_from_config

    model, adapter = loaded.model, loaded.adapter
    text_cfg = model.config.get_text_config()
    spec = spec_from_config(text_cfg, family=adapter.family, visual_window=adapter.visual_window)
    mask = inputs["attention_mask"]
    if layouts is None:
        layouts = _layouts(loaded, inputs, mask)
    scheme = POSITIONS.create(config.position, **dict(config.position_params))
    plans = [scheme.plan(layout, spec) for layout in layouts]
    info = dict(plans[0].info) if plans and getattr(plans[0], "info", None) else {}
    return (spec, batch_plans(plans, mask)), info


@contextmanager
def applied(
    loaded: Loaded, inputs: Any, config: ContextConfig, layouts: list[Any] | None = None
) -> Iterator[dict[str, Any]]:
    """Yield extra generate() kwargs for ``config.position``; restore the model on exit.

    The yielded ``position_ids`` replace any in ``inputs`` (the pooled path's default ids).
    """
    if config.position == "default":
        yield {}
        return
    from vlmctx.position import PlannedRotaryEmbedding

    (spec, batch), info = plan_for_inputs(loaded, inputs, config, layouts)
    lm = _language_model(loaded.model)
    original = lm.rotary_emb
    device = inputs["input_ids"].device
    rotary = PlannedRotaryEmbedding.from_spec(spec).to(device)
    rotary.set_plan(batch)
    lm.rotary_emb = rotary
    if hasattr(loaded.model.model, "rope_deltas"):
        loaded.model.model.rope_deltas = None
    try:
        yield {"position_ids": batch.position_ids.to(device), "_position_info": info}
    finally:
        lm.rotary_emb = original
        if hasattr(loaded.model.model, "rope_deltas"):
            loaded.model.model.rope_deltas = None
