"""Poolers applied to real tiny models of all four families (embeddings replaced, positions kept)."""

from __future__ import annotations

import pytest
import torch

from tests.models.conftest import load_setup
from vlmctx.config import ContextConfig
from vlmctx.engine import VideoLM
from vlmctx.models.common import visual_runs
from vlmctx.models.pooled import pooled_generate_kwargs
from vlmctx.pooling import POOLERS, pooled_token_count


@pytest.fixture(scope="module")
def setup(family: str):
    return load_setup(family, 8)


def _grid(lm: VideoLM, inputs) -> tuple[int, int, int]:
    fam = lm.adapter.family
    if lm.adapter.positions.mrope:
        t, h, w = inputs["video_grid_thw"][0].tolist()
        return t, h // 2, w // 2
    side = {"llava_onevision": 2, "internvl": 2}[fam]  # tiny models: 2x2 tokens per frame
    return 8, side, side


def test_none_reproduces_the_unpooled_logits(setup) -> None:
    lm, inputs, ref = setup
    with torch.inference_mode():
        kw, before, after = pooled_generate_kwargs(lm.loaded, inputs, POOLERS.create("none"))
        kw.pop("input_ids")
        out = lm.loaded.model(**kw).logits
    assert before == after
    assert torch.equal(out, ref)


def _recompute(model, kw: dict, steps: int) -> torch.Tensor:
    ids, emb, pos = kw["input_ids"], kw["inputs_embeds"], kw.get("position_ids")
    mm = kw.get("mm_token_type_ids")
    # pre-encoded visual outputs (Qwen3-VL's pooled tokens + DeepStack) ride along every step
    encoded = {"mm_encoder_outputs": kw["mm_encoder_outputs"]} if "mm_encoder_outputs" in kw else {}
    for _ in range(steps):
        extra = {"position_ids": pos, **encoded} if pos is not None else dict(encoded)
        if mm is not None:
            extra["mm_token_type_ids"] = mm
        logits = model(
            inputs_embeds=emb, attention_mask=torch.ones_like(ids), use_cache=False, **extra
        ).logits
        nxt = logits[:, -1].argmax(-1, keepdim=True)
        ids = torch.cat([ids, nxt], 1)
        emb = torch.cat([emb, model.get_input_embeddings()(nxt)], 1)
        if pos is not None:
            pos = torch.cat([pos, pos[..., -1:] + 1], -1)
        if mm is not None:
            mm = torch.nn.functional.pad(mm, (0, 1))
    return ids


@pytest.mark.parametrize("name", ["uniform", "progressive", "hybrid"])
def test_token_counts_positions_and_cached_generate(setup, name: str) -> None:
    lm, inputs, ref = setup
    pooler = POOLERS.create(name)
    model = lm.loaded.model
    with torch.inference_mode():
        kw, before, after = pooled_generate_kwargs(lm.loaded, inputs, pooler)
        newline = 1 if lm.adapter.family == "llava_onevision" else 0
        assert after == pooled_token_count(pooler, *_grid(lm, inputs)) + newline < before
        if lm.adapter.positions.mrope:
            pos = kw["position_ids"][:, 0]
            vis = kw["mm_token_type_ids"][0] == 2
            t_ids = pos[0, vis]
            assert torch.all(t_ids[1:] >= t_ids[:-1])  # temporal ids stay monotonic
            h, w = _grid(lm, inputs)[1:]
            # one run per video, or one per frame pair after its time marker (Qwen3-VL, 3.5)
            for s, e in visual_runs(vis):
                start = pos[0, s - 1] + 1  # h/w ids count from the id after the preceding text
                assert pos[1, s:e].min() >= start and pos[1, s:e].max() <= start + h - 1
                assert pos[2, s:e].min() >= start and pos[2, s:e].max() <= start + w - 1
        cached = model.generate(
            **kw,
            max_new_tokens=4,
            do_sample=False,
            use_cache=True,
            pad_token_id=lm.loaded.processor.tokenizer.pad_token_id,
        )
        assert torch.equal(cached, _recompute(model, kw, 4))


def test_uniform_positions_sit_at_cell_centres() -> None:
    from vlmctx.runtime.assets import sample_video

    lm = VideoLM.load("tiny-qwen2_vl", ContextConfig(sampler_params={"n": 2}))
    inputs = lm.adapter.prompt.build_inputs(lm.loaded, "Q", lm.frames(sample_video()))
    t, h, w = inputs["video_grid_thw"][0].tolist()  # one temporal patch, h/2 x w/2 tokens
    with torch.inference_mode():
        kw, _, after = pooled_generate_kwargs(lm.loaded, inputs, POOLERS.create("uniform"))
    pos = kw["position_ids"][:, 0]
    vis = kw["mm_token_type_ids"][0] == 2
    start = int(torch.nonzero(vis)[0])
    hh, ww = h // 2, w // 2
    exp_h = [((2 * i) + min(2 * i + 2, hh) - 1) / 2 for i in range(-(-hh // 2))]
    exp_w = [((2 * j) + min(2 * j + 2, ww) - 1) / 2 for j in range(-(-ww // 2))]
    got = list(zip((pos[1, vis] - start).tolist(), (pos[2, vis] - start).tolist(), strict=True))
    assert got == [(a, b) for a in exp_h for b in exp_w]
    # text after the video resumes where the unpooled video would have left it
    assert pos[0, vis.nonzero()[-1] + 1].item() == start + max(hh, ww)


def test_engine_reports_tokens_before_and_after_pooling(setup) -> None:
    from vlmctx.runtime.assets import sample_video

    lm, _, _ = setup
    cfg = ContextConfig(sampler_params={"n": 8}, pooling="progressive")
    ans = lm.with_config(cfg).ask(sample_video(), "What?", max_new_tokens=2)
    assert ans.visual_tokens < ans.extra["visual_tokens_before_pooling"]
