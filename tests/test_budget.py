"""The budget planner against measured tensors of real tiny models, and refusal before loading."""

from __future__ import annotations

import pytest
import torch

from tests.conftest import FAMILIES
from vlmctx.budget import MemoryPlan, check_budget, parse_bytes, plan_memory
from vlmctx.cli import main
from vlmctx.config import ContextConfig
from vlmctx.engine import VideoLM
from vlmctx.errors import BudgetExceededError, ConfigError


@pytest.mark.parametrize("family", FAMILIES)
def test_planned_tokens_kv_and_weights_equal_measured(family: str) -> None:
    from vlmctx.assets import sample_video

    lm = VideoLM.load(f"tiny-{family}", ContextConfig(sampler_params={"n": 8}))
    frames = lm.frames(sample_video())
    plan = plan_memory(f"tiny-{family}", 8, frames.data.shape[1:3], "Q?", "float32",
                       frames.pts_s, frames.info.duration_s)  # fmt: skip
    inputs = lm.adapter.build_inputs(lm.loaded, "Q?", frames)
    with torch.inference_mode():
        cache = lm.loaded.model(**inputs, use_cache=True).past_key_values
    kv = sum(t.numel() * t.element_size() for la in cache.layers for t in (la.keys, la.values))
    weights = sum(p.numel() * p.element_size() for p in lm.loaded.model.parameters())
    assert plan.total_tokens == inputs["input_ids"].shape[1]
    assert plan.visual_tokens == lm.adapter.count_visual(lm.loaded, inputs["input_ids"])
    assert plan.kv_cache_bytes == kv  # exact, well within the 5% asked
    assert plan.weights_exact and plan.weight_bytes == weights
    assert plan.peak_prefill_bytes > plan.weight_bytes + plan.kv_cache_bytes


@pytest.mark.parametrize("family", FAMILIES)
def test_planned_pooled_tokens_and_kv_equal_measured(family: str) -> None:
    from vlmctx.assets import sample_video
    from vlmctx.models.pooled import pooled_generate_kwargs
    from vlmctx.pooling import POOLERS

    lm = VideoLM.load(f"tiny-{family}", ContextConfig(sampler_params={"n": 8}))
    frames = lm.frames(sample_video())
    plan = plan_memory(f"tiny-{family}", 8, frames.data.shape[1:3], "Q?", "float32",
                       frames.pts_s, frames.info.duration_s, "progressive")  # fmt: skip
    inputs = lm.adapter.build_inputs(lm.loaded, "Q?", frames)
    with torch.inference_mode():
        kw, _, after = pooled_generate_kwargs(lm.loaded, inputs, POOLERS.create("progressive"))
        kw.pop("input_ids")
        cache = lm.loaded.model(**kw, use_cache=True).past_key_values
    kv = sum(t.numel() * t.element_size() for la in cache.layers for t in (la.keys, la.values))
    assert plan.visual_tokens == after
    assert plan.total_tokens == kw["inputs_embeds"].shape[1]
    assert plan.kv_cache_bytes == kv


def test_parse_bytes_and_refusal_message() -> None:
    assert parse_bytes("8GiB") == 8 * 2**30 and parse_bytes("512MB") == 512 * 10**6
    assert parse_bytes("1e3") == 1000
    with pytest.raises(ConfigError):
        parse_bytes("lots")
    plan = MemoryPlan("m", 4, (28, 28), 10, 20, 100, 1000, True, 50, 1150, "float32")
    check_budget(plan, 2000)
    with pytest.raises(BudgetExceededError, match="--frames"):
        check_budget(plan, 1000)


def test_ask_refuses_over_budget_before_loading_weights(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from vlmctx.models.base import Adapter

    def boom(*_a, **_k):
        raise AssertionError("weights were loaded")

    monkeypatch.setattr(Adapter, "load", boom)
    code = main(["ask", "sample", "q", "--model", "tiny-qwen2_vl", "--max-memory", "1MiB"])
    err = capsys.readouterr().err
    assert code != 0 and "--max-memory" in err and "Traceback" not in err


def test_plan_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "sample", "--model", "tiny-internvl", "--frames", "16"]) == 0
    out = capsys.readouterr().out
    assert "visual tokens" in out and "64" in out  # 16 frames x 4 tokens
    assert main(["plan", "sample", "--model", "tiny-internvl", "--max-memory", "1KiB"]) != 0
