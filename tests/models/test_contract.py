"""The adapter contract, checked for every registered family (``ADAPTERS.names()``), so a new
family cannot skip a part of it: load-time checks, visual mask, layouts, visual features for the
pooled path, planner terms, visual window."""

from __future__ import annotations

import pytest
import torch

from tests.models.conftest import load_setup
from vlmctx.errors import UnsupportedModelError
from vlmctx.models import ADAPTERS, tiny_names
from vlmctx.pooling import POOLERS


@pytest.fixture(scope="module", params=ADAPTERS.names())
def setup(request: pytest.FixtureRequest):
    return load_setup(request.param, 4)


def test_every_family_has_a_tiny_model_and_a_real_default() -> None:
    assert tiny_names() == [f"tiny-{f}" for f in ADAPTERS.names()]
    for name in ADAPTERS.names():
        adapter = ADAPTERS.create(name)
        assert adapter.family == name and name in adapter.model_types
        assert "/" in adapter.default_checkpoint  # a hub id stays the users' default
        assert (
            adapter.settings.visual_window and adapter.settings.visual_window > 0
        )  # VCWE's default, cited


def test_visual_mask_layouts_and_features_agree(setup) -> None:
    lm, inputs, _ = setup
    adapter, loaded = lm.adapter, lm.loaded
    mask = adapter.tokens.visual_mask(loaded, inputs["input_ids"])
    n_visual = int(mask.sum())
    assert n_visual == adapter.tokens.count_visual(loaded, inputs["input_ids"]) > 0
    (layout,) = adapter.positions.layouts(loaded, inputs, inputs["attention_mask"])
    assert layout.n == inputs["input_ids"].shape[1] and layout.n_visual == n_visual
    assert torch.equal(layout.token_type != 0, mask[0])
    with torch.inference_mode():
        feats = adapter.pooled.visual_features(loaded, inputs)
    t, h, w, d = feats.grid.shape
    assert t * h * w + (feats.trailing is not None) == n_visual
    assert d == loaded.model.config.get_text_config().hidden_size
    spec = adapter.positions.rope_spec(loaded)
    assert spec.family == adapter.family and spec.is_mrope == adapter.positions.mrope
    assert spec.visual_window == adapter.settings.visual_window


def test_planner_term_counts_pooled_tokens_like_the_pooled_path(setup) -> None:
    from vlmctx.models.pooled import pooled_inputs

    lm, inputs, _ = setup
    visual = lm.adapter.tokens.count_visual(lm.loaded, inputs["input_ids"])
    cfg = lm.loaded.model.config
    for name in POOLERS.names():
        pooler = POOLERS.create(name)
        with torch.inference_mode():
            pooled = pooled_inputs(lm.loaded, inputs, pooler)
        planned = lm.adapter.planner.pooled_visual_tokens(cfg, inputs, 4, visual, pooler)
        assert planned == pooled.after, name


def test_a_moved_rotary_module_fails_at_load_with_a_clear_message(setup) -> None:
    lm, _, _ = setup
    adapter = ADAPTERS.create(lm.adapter.family)  # a fresh one, not the loaded model's
    inner = adapter.positions.language_model(lm.loaded.model)
    rotary = getattr(inner, adapter.positions.rotary_attr)
    try:
        delattr(inner, adapter.positions.rotary_attr)
        with pytest.raises(UnsupportedModelError, match="rotary_emb is missing.*transformers"):
            adapter.check_contract(lm.loaded.model)
    finally:
        setattr(inner, adapter.positions.rotary_attr, rotary)
    adapter.check_contract(lm.loaded.model)  # restored: passes


def test_a_missing_feature_call_fails_at_load(setup) -> None:
    lm, _, _ = setup
    adapter = ADAPTERS.create(lm.adapter.family)  # a fresh one, not the loaded model's
    adapter.pooled.features_method = "get_features_of_a_future_release"
    with pytest.raises(UnsupportedModelError, match="get_features_of_a_future_release"):
        adapter.check_contract(lm.loaded.model)


def test_short_frames_are_read_channels_last(setup) -> None:
    """A clip 3 pixels high must not be taken for channels-first by the processor's guess."""
    import numpy as np

    from vlmctx.video.types import Frames, VideoInfo

    lm, _, _ = setup
    n, h, w = 4, 3, 64
    info = VideoInfo(
        "short",
        n,
        1.0,
        float(n),
        w,
        h,
        0,
        "",
        False,
        np.arange(n, dtype=float),
        np.zeros(1, np.int64),
    )
    data = np.random.default_rng(0).integers(0, 255, (n, h, w, 3), dtype=np.uint8)
    frames = Frames(data, np.arange(n), np.arange(n, dtype=float), "test", info, sample_fps=1.0)
    inputs = lm.adapter.prompt.build_inputs(lm.loaded, "Q?", frames)
    if "video_grid_thw" in inputs:  # M-RoPE families: the grid keeps the wide aspect
        _, gh, gw = inputs["video_grid_thw"][0].tolist()
        assert gh < gw
