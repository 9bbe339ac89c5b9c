"""Position schemes composed with poolers on real tiny models of all four families.

The pooled sequence's layout (pooled tokens at their unpooled cell centres) is what a scheme plans
on, so: pooling ``none`` + scheme equals the unpooled model + scheme exactly; a real pooler +
scheme decodes through the KV cache exactly like a full recompute; and the ids are those written
out by hand.
"""

from __future__ import annotations

import math

import pytest
import torch

from tests.models.conftest import load_setup
from tests.models.test_pooling_applied import _recompute
from tests.models.test_positions_applied import STRETCHED, _applies, _cfg
from vlmctx.config import ContextConfig
from vlmctx.models.pooled import pooled_inputs
from vlmctx.models.positioning import applied
from vlmctx.pooling import POOLERS


@pytest.fixture(scope="module")
def setup(family: str):
    return load_setup(family, 8)


def _scheme_logits(lm, inputs, cfg, layouts=None):
    with torch.inference_mode(), applied(lm.loaded, inputs, cfg, layouts) as extra:
        info = extra.pop("_position_info")
        kw = {**inputs, **extra}
        if "inputs_embeds" in kw:
            kw.pop("input_ids")
        return lm.loaded.model(**kw).logits, info


@pytest.mark.parametrize("name", sorted(STRETCHED))
def test_pooling_none_with_a_scheme_equals_the_scheme_alone(setup, name: str) -> None:
    lm, inputs, _ = setup
    if not _applies(lm, name):
        return
    cfg = _cfg(name, STRETCHED[name])
    ref, ref_info = _scheme_logits(lm, inputs, cfg)
    with torch.inference_mode():
        pooled = pooled_inputs(lm.loaded, inputs, POOLERS.create("none"))
    out, info = _scheme_logits(lm, pooled.kwargs, cfg, [pooled.layout])
    assert info == ref_info
    assert torch.equal(out, ref)


@pytest.mark.parametrize("name", sorted(STRETCHED))
def test_progressive_with_a_scheme_generates_like_a_full_recompute(setup, name: str) -> None:
    lm, inputs, _ = setup
    if not _applies(lm, name):
        return
    cfg = _cfg(name, STRETCHED[name])
    model = lm.loaded.model
    with torch.inference_mode():
        pooled = pooled_inputs(lm.loaded, inputs, POOLERS.create("progressive"))
        plain = model(**{k: v for k, v in pooled.kwargs.items() if k != "input_ids"}).logits
        with applied(lm.loaded, pooled.kwargs, cfg, [pooled.layout]) as extra:
            extra.pop("_position_info")
            kw = {**pooled.kwargs, **extra}
            out = model(**{k: v for k, v in kw.items() if k != "input_ids"}).logits
            assert not torch.allclose(out, plain), f"{name} did not change the pooled logits"
            cached = model.generate(
                **kw,
                max_new_tokens=4,
                do_sample=False,
                use_cache=True,
                pad_token_id=lm.loaded.processor.tokenizer.pad_token_id,
            )
            assert torch.equal(cached, _recompute(model, kw, 4))


def test_vcwe_counts_the_pooled_visual_tokens(setup) -> None:
    lm, inputs, _ = setup
    with torch.inference_mode():
        pooled = pooled_inputs(lm.loaded, inputs, POOLERS.create("progressive"))
    cfg = ContextConfig(position="vcwe", position_params={"visual_window": 4})
    _, info = _scheme_logits(lm, pooled.kwargs, cfg, [pooled.layout])
    assert pooled.after < pooled.before
    assert info["factor"] == pytest.approx(pooled.layout.n_visual / 4)


def test_v2pe_on_pooled_tokens_by_hand() -> None:
    """Qwen2-VL, 4 frames -> 2 temporal patches of h x w tokens; uniform 2x2 pooling; delta 1/2.

    A pooled token at cell centre (k, a, b) gets ``last + 0.5 * (1 + (k, a, b))`` with ``last``
    the id of the token before the video; text resumes at ``ceil(last + 0.5 * max(h, w)) + 1``.
    """
    from vlmctx.engine import VideoLM
    from vlmctx.runtime.assets import sample_video

    lm = VideoLM.load("tiny-qwen2_vl", ContextConfig(sampler_params={"n": 4}))
    inputs = lm.adapter.prompt.build_inputs(lm.loaded, "Q", lm.frames(sample_video()))
    t, h, w = inputs["video_grid_thw"][0].tolist()
    hh, ww = h // 2, w // 2
    with torch.inference_mode():
        pooled = pooled_inputs(lm.loaded, inputs, POOLERS.create("uniform"))
        cfg = ContextConfig(position="v2pe", position_params={"delta": 0.5})
        with applied(lm.loaded, pooled.kwargs, cfg, [pooled.layout]) as extra:
            pos = extra["position_ids"][:, 0]  # (3, n)
    vis = pooled.kwargs["mm_token_type_ids"][0] == 2
    start = int(torch.nonzero(vis)[0])
    last = start - 1
    centres_h = [(2 * i + min(2 * i + 2, hh) - 1) / 2 for i in range(-(-hh // 2))]
    centres_w = [(2 * j + min(2 * j + 2, ww) - 1) / 2 for j in range(-(-ww // 2))]
    expected = [
        (last + 0.5 * (1 + k), last + 0.5 * (1 + a), last + 0.5 * (1 + b))
        for k in range(t)
        for a in centres_h
        for b in centres_w
    ]
    got = [tuple(col) for col in pos[:, vis].T.tolist()]
    assert got == expected
    assert pos[:, :start].tolist() == [list(map(float, range(start)))] * 3
    end = int(torch.nonzero(vis)[-1]) + 1
    resume = math.ceil(last + 0.5 * max(hh, ww)) + 1
    assert pos[0, end:].tolist() == [float(resume + i) for i in range(pos.shape[1] - end)]


def test_engine_answers_with_pooling_and_a_scheme(setup) -> None:
    from vlmctx.runtime.assets import sample_video

    lm, _, _ = setup
    cfg = ContextConfig(
        sampler_params={"n": 8},
        pooling="progressive",
        position="yarn",
        position_params={"factor": 2.0},
    )
    ans = lm.with_config(cfg).ask(sample_video(), "What?", max_new_tokens=3)
    assert ans.config["pooling"] == "progressive" and ans.config["position"] == "yarn"
    assert ans.extra["position"]["factor"] == 2.0
    assert ans.visual_tokens < ans.extra["visual_tokens_before_pooling"]
