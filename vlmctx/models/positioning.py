"""Apply a position scheme (``vlmctx.position``) to a loaded HF model for one generate() call.

No transformers model file is forked: we compute the scheme's float position ids from the
processor outputs (the adapter reads the layouts), pass them to ``generate(position_ids=...)``
(transformers continues them by +1 per new token), and swap the language model's rotary module
(``adapter.positions.language_model`` / ``rotary_attr``) for :class:`~vlmctx.position.SchemeRotaryEmbedding`,
which carries the scheme's per-group frequency tables. The original rotary module is put back
afterwards, so the same weights can serve another scheme next (side-by-side comparisons on one
model). ``default`` leaves the model untouched.

Concurrency: the swap is state on a shared module, so :func:`applied` holds the model's lock
(``Loaded.lock``, re-entrant) from the swap to the restore; callers that generate hold it for the
whole generation (``VideoLM`` does, streaming included). On exit it checks that the module it
removes is the one it installed and raises if another writer got in, after restoring the original.

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
from typing import TYPE_CHECKING, Any

from vlmctx.config import ContextConfig
from vlmctx.errors import VlmctxError
from vlmctx.models.contract import Loaded

if TYPE_CHECKING:
    from transformers import BatchFeature

    from vlmctx.position import BatchedPositions, RopeSpec, TokenLayout
    from vlmctx.position.schemes import PositionScheme


def scheme_of(config_or_scheme: ContextConfig | PositionScheme) -> PositionScheme:
    """A built position scheme from a ``ContextConfig`` or the scheme itself."""
    if isinstance(config_or_scheme, ContextConfig):
        from vlmctx.position import POSITIONS

        cfg = config_or_scheme
        return POSITIONS.create(cfg.position, **dict(cfg.position_params))
    return config_or_scheme


def positions_for_inputs(
    loaded: Loaded,
    inputs: BatchFeature,
    scheme: PositionScheme,
    layouts: list[TokenLayout] | None = None,
) -> tuple[tuple[RopeSpec, BatchedPositions], dict[str, Any]]:
    """The scheme's batched positions for these processor outputs, and its info for results.

    ``layouts`` (one ``TokenLayout`` per row) overrides the layouts read from ``inputs``; the
    pooled path passes the pooled sequence's layout so the scheme plans on the pooled tokens.
    """
    from vlmctx.position import batch_positions

    positions = loaded.adapter.positions
    spec = positions.rope_spec(loaded)
    mask = inputs["attention_mask"]
    if layouts is None:
        layouts = positions.layouts(loaded, inputs, mask)
    plans = [scheme.positions(layout, spec) for layout in layouts]
    info = dict(plans[0].info) if plans and getattr(plans[0], "info", None) else {}
    return (spec, batch_positions(plans, mask)), info


def is_default(scheme: PositionScheme) -> bool:
    from vlmctx.position.schemes import Default

    return isinstance(scheme, Default)


@contextmanager
def applied(
    loaded: Loaded,
    inputs: BatchFeature,
    scheme: ContextConfig | PositionScheme,
    layouts: list[TokenLayout] | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield extra generate() kwargs for the position scheme; restore the model on exit.

    ``scheme``: a built scheme (``POSITIONS.create``) or a ``ContextConfig``. The yielded
    ``position_ids`` replace any in ``inputs`` (the pooled path's default ids). Holds
    ``loaded.lock`` throughout.
    """
    scheme = scheme_of(scheme)
    if is_default(scheme):
        with loaded.lock:
            yield {}
        return
    from vlmctx.position import SchemeRotaryEmbedding

    (spec, batch), info = positions_for_inputs(loaded, inputs, scheme, layouts)
    pos = loaded.adapter.positions
    device = inputs["input_ids"].device
    rotary = SchemeRotaryEmbedding.from_spec(spec).to(device)
    rotary.set_positions(batch)
    with loaded.lock:
        lm = pos.language_model(loaded.model)
        original = getattr(lm, pos.rotary_attr)
        if isinstance(original, SchemeRotaryEmbedding):
            raise VlmctxError(
                "the model still carries a position scheme's rotary from an earlier call that "
                "did not restore it; reload the model"
            )
        setattr(lm, pos.rotary_attr, rotary)
        pos.reset_position_state(loaded.model)
        try:
            yield {"position_ids": batch.position_ids.to(device), "_position_info": info}
        finally:
            found = getattr(lm, pos.rotary_attr)
            setattr(lm, pos.rotary_attr, original)
            pos.reset_position_state(loaded.model)
        if found is not rotary:
            raise VlmctxError(
                "another call replaced the rotary module while this one generated; the original "
                "was restored, but this answer may have used the wrong positions"
            )
