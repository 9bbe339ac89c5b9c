"""Shape-true models (``shape-<card>``): a real checkpoint's widths with one language layer and
two vision blocks, random weights, the family's real processor with the card's settings.

On them: the real dims survive (head_dim 128, M-RoPE sections, window + full attention blocks,
DeepStack taps), every position scheme answers, identity settings equal the unpatched logits at
real head_dim, cached generation equals recompute, a pooler answers, and the planner's tokens,
KV bytes and weights equal the measured tensors. One card per family; the default suite runs
the Qwen2.5-VL card (window attention) on its dims, identity and planner checks; generation
checks and the other families are ``slow`` (CPU cost of real widths: minutes on a loaded
2-core machine).
"""

from __future__ import annotations

import pytest
import torch

from tests.models.test_positions_applied import STRETCHED, _recompute_greedy
from tests.planner.test_memory_plan import _kv_bytes, _state_bytes
from vlmctx.config import ContextConfig
from vlmctx.engine import VideoLM
from vlmctx.errors import UnsupportedModelError
from vlmctx.models import family_of, resolve_source
from vlmctx.models.cards import card
from vlmctx.models.positioning import applied
from vlmctx.models.tiny import shape_card, shape_names
from vlmctx.planner import plan_memory
from vlmctx.position import POSITIONS, identity_params

FRAMES, MAX_PIXELS = 2, 224 * 224  # Qwen2.5-VL: 9x7 merged tokens -> 3x2 vision windows
SLOW = pytest.mark.slow
CARDS = [
    pytest.param("shape-Qwen2.5-VL-3B-Instruct", id="qwen2_5_vl"),
    pytest.param("shape-Qwen2-VL-2B-Instruct", id="qwen2_vl", marks=SLOW),
    pytest.param("shape-Qwen3-VL-2B-Instruct", id="qwen3_vl", marks=SLOW),
    pytest.param("shape-InternVL3-2B-hf", id="internvl", marks=SLOW),
    pytest.param("shape-llava-onevision-qwen2-7b-ov-hf", id="llava_onevision", marks=SLOW),
]


@pytest.fixture(scope="module", params=CARDS)
def setup(request: pytest.FixtureRequest):
    from vlmctx.runtime.assets import sample_video

    name = request.param
    cfg = ContextConfig(sampler_params={"n": FRAMES}, max_pixels=MAX_PIXELS)
    lm = VideoLM.load(name, cfg)
    frames = lm.frames(sample_video())
    inputs = lm.adapter.prompt.build_inputs(lm.loaded, "What colour is the ball?", frames)
    with torch.inference_mode():
        ref = lm.loaded.model(**inputs).logits
    return name, lm, frames, inputs, ref


def test_names_resolve_and_unknown_names_are_refused() -> None:
    assert "shape-Qwen2-VL-7B-Instruct" in shape_names()
    assert family_of("shape-qwen2.5-vl-7b-instruct") == "qwen2_5_vl"
    assert shape_card("shape-qwen2-vl-7b-instruct").hub_id == "Qwen/Qwen2-VL-7B-Instruct"
    with pytest.raises(UnsupportedModelError, match="did you mean shape-Qwen2-VL-7B-Instruct"):
        resolve_source("shape-Qwen2-VL-7B-Instruc")


def test_real_dims_survive(setup) -> None:
    name, lm, _, _, _ = setup
    c = shape_card(name)
    cfg = lm.loaded.model.config
    text, vision = cfg.get_text_config(), cfg.vision_config
    for key in ("hidden_size", "num_attention_heads", "num_key_value_heads", "intermediate_size"):
        assert getattr(text, key) == c.text[key]
    assert (getattr(text, "head_dim", None) or text.hidden_size // text.num_attention_heads) == 128
    assert text.num_hidden_layers == len(set(getattr(text, "layer_types", None) or [0]))
    rope = text.rope_parameters
    assert rope.get("mrope_section") == c.text["mrope_section"]
    for key in ("hidden_size", "patch_size", "window_size", "spatial_merge_size"):
        if key in c.vision:
            assert getattr(vision, key) == c.vision[key]
    if "fullatt_block_indexes" in c.vision:  # one window block, then one full block
        assert vision.depth == 2 and vision.fullatt_block_indexes == [1]
    if "deepstack_visual_indexes" in c.vision:
        assert vision.deepstack_visual_indexes == [0, 1]


def _identity_equals_unpatched(setup, names: list[str]) -> None:
    _, lm, _, inputs, ref = setup
    for name in names:
        cfg = ContextConfig(position=name, position_params=identity_params(name))
        if not lm.adapter.positions.mrope and POSITIONS.get(name).requires_mrope:
            with pytest.raises(UnsupportedModelError):
                lm.with_config(cfg)
            continue
        with torch.inference_mode(), applied(lm.loaded, inputs, cfg) as extra:
            extra.pop("_position_info", None)
            out = lm.loaded.model(**inputs, **extra).logits
        assert torch.equal(out, ref), f"{name} with identity settings changed the logits"


def test_identity_settings_equal_the_unpatched_logits(setup) -> None:
    """Default suite: the two schemes that rebuild M-RoPE's per-section frequencies (real
    sections at head_dim 128); every scheme under ``slow``."""
    _identity_equals_unpatched(setup, ["mrope_pp", "vcwe"])


@pytest.mark.slow
def test_identity_settings_equal_the_unpatched_logits_every_scheme(setup) -> None:
    _identity_equals_unpatched(setup, POSITIONS.names())


def test_planner_tokens_and_kv_equal_measured(setup) -> None:
    """Pooled (``uniform``: ``progressive`` keeps a lone temporal patch whole), so the planner's
    pooled term is checked too; weights exact."""
    from vlmctx.models.pooled import pooled_generate_kwargs
    from vlmctx.pooling import POOLERS

    name, lm, frames, _, _ = setup
    plan = plan_memory(
        name,
        FRAMES,
        frames.data.shape[1:3],
        "Q?",
        "float32",
        frames.pts_s,
        frames.info.duration_s,
        "uniform",
    )
    q_inputs = lm.adapter.prompt.build_inputs(lm.loaded, "Q?", frames)
    with torch.inference_mode():
        kw, before, after = pooled_generate_kwargs(lm.loaded, q_inputs, POOLERS.create("uniform"))
        kw.pop("input_ids")
        cache = lm.loaded.model(**kw, use_cache=True).past_key_values
    assert plan.visual_tokens == after < before
    assert plan.total_tokens == kw["inputs_embeds"].shape[1]
    assert plan.kv_cache_bytes == _kv_bytes(cache) and plan.state_bytes == _state_bytes(cache)
    weights = sum(p.numel() * p.element_size() for p in lm.loaded.model.parameters())
    assert plan.weights_exact and plan.weight_bytes == weights


@pytest.mark.slow
def test_every_scheme_and_pooler_answers(setup) -> None:
    _, lm, frames, _, _ = setup
    for name in POSITIONS.names():
        if lm.adapter.positions.mrope or not POSITIONS.get(name).requires_mrope:
            ans = lm.with_config(ContextConfig(position=name)).ask(frames, "Q?", max_new_tokens=2)
            assert ans.config["position"] == name and ans.visual_tokens > 0
    for pooling in ("uniform", "hybrid"):
        ans = lm.with_config(ContextConfig(pooling=pooling)).ask(frames, "Q?", max_new_tokens=2)
        assert ans.config["pooling"] == pooling and ans.visual_tokens > 0


@pytest.mark.slow
@pytest.mark.parametrize("scheme", ["mrope_pp", "v2pe"])
def test_cached_generation_equals_recompute(setup, scheme: str) -> None:
    _, lm, _, inputs, ref = setup
    if not lm.adapter.positions.mrope and POSITIONS.get(scheme).requires_mrope:
        return
    model = lm.loaded.model
    cfg = ContextConfig(position=scheme, position_params=STRETCHED[scheme])
    with torch.inference_mode(), applied(lm.loaded, inputs, cfg) as extra:
        extra.pop("_position_info")
        assert not torch.allclose(model(**inputs, **extra).logits, ref)
        cached = model.generate(
            **inputs,
            **extra,
            max_new_tokens=3,
            do_sample=False,
            pad_token_id=lm.loaded.processor.tokenizer.pad_token_id,
        )
        full = _recompute_greedy(model, inputs, extra["position_ids"], 3)
    assert torch.equal(cached, full)


def test_card_of_each_case_is_head_dim_128() -> None:
    for param in CARDS:
        assert card(shape_card(param.values[0]).hub_id).text["head_dim"] == 128
