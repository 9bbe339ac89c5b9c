"""The memory planner against measured tensors of real tiny models, and refusal before loading."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.conftest import FAMILIES
from vlmctx.cli import main
from vlmctx.config import ContextConfig
from vlmctx.engine import VideoLM
from vlmctx.errors import BudgetExceededError, ConfigError, MemoryLimitError
from vlmctx.planner import MemoryPlan, check_memory_limit, parse_bytes, plan_memory


def _kv_bytes(cache) -> int:
    """Bytes of the per-token K/V of the attention layers (linear-attention layers hold a
    fixed-size state instead: :func:`_state_bytes`)."""
    return sum(
        t.numel() * t.element_size()
        for la in cache.layers
        if hasattr(la, "keys")
        for t in (la.keys, la.values)
    )


def _state_bytes(cache) -> int:
    """Bytes of the linear-attention layers' conv and recurrent states (transformers 5.24's
    ``LinearAttentionLayer``; none in pure-attention models)."""
    return sum(
        t.numel() * t.element_size()
        for la in cache.layers
        for states in (getattr(la, "conv_states", {}), getattr(la, "recurrent_states", {}))
        for t in states.values()
        if t is not None
    )


@pytest.mark.parametrize("family", FAMILIES)
def test_planned_tokens_kv_and_weights_equal_measured(family: str) -> None:
    from vlmctx.runtime.assets import sample_video

    lm = VideoLM.load(f"tiny-{family}", ContextConfig(sampler_params={"n": 8}))
    frames = lm.frames(sample_video())
    plan = plan_memory(f"tiny-{family}", 8, frames.data.shape[1:3], "Q?", "float32",
                       frames.pts_s, frames.info.duration_s)  # fmt: skip
    inputs = lm.adapter.prompt.build_inputs(lm.loaded, "Q?", frames)
    with torch.inference_mode():
        cache = lm.loaded.model(**inputs, use_cache=True).past_key_values
    kv = _kv_bytes(cache)
    weights = sum(p.numel() * p.element_size() for p in lm.loaded.model.parameters())
    assert plan.total_tokens == inputs["input_ids"].shape[1]
    assert plan.visual_tokens == lm.adapter.tokens.count_visual(lm.loaded, inputs["input_ids"])
    assert plan.kv_cache_bytes == kv  # exact, well within the 5% asked
    assert plan.state_bytes == _state_bytes(cache)  # Qwen3.5: > 0; the others: 0
    assert (plan.state_bytes > 0) == (family == "qwen3_5")
    assert plan.weights_exact and plan.weight_bytes == weights
    assert plan.peak_prefill_bytes > plan.weight_bytes + plan.kv_cache_bytes


@pytest.mark.parametrize("family", FAMILIES)
def test_planned_pooled_tokens_and_kv_equal_measured(family: str) -> None:
    from vlmctx.models.pooled import pooled_generate_kwargs
    from vlmctx.pooling import POOLERS
    from vlmctx.runtime.assets import sample_video

    lm = VideoLM.load(f"tiny-{family}", ContextConfig(sampler_params={"n": 8}))
    frames = lm.frames(sample_video())
    plan = plan_memory(f"tiny-{family}", 8, frames.data.shape[1:3], "Q?", "float32",
                       frames.pts_s, frames.info.duration_s, "progressive")  # fmt: skip
    inputs = lm.adapter.prompt.build_inputs(lm.loaded, "Q?", frames)
    with torch.inference_mode():
        kw, _, after = pooled_generate_kwargs(lm.loaded, inputs, POOLERS.create("progressive"))
        kw.pop("input_ids")
        cache = lm.loaded.model(**kw, use_cache=True).past_key_values
    kv = _kv_bytes(cache)
    assert plan.visual_tokens == after
    assert plan.total_tokens == kw["inputs_embeds"].shape[1]
    assert plan.kv_cache_bytes == kv
    assert plan.state_bytes == _state_bytes(cache)


def test_qwen3_5_state_bytes_in_bfloat16_and_fixed_in_length() -> None:
    """In bf16 the conv state is bf16 but the recurrent state stays float32; the state does not
    grow with the prompt (it is in the plan's peak, beside the KV cache)."""
    from transformers import AutoModelForImageTextToText

    from vlmctx.models import tiny_path

    model = AutoModelForImageTextToText.from_pretrained(
        tiny_path("tiny-qwen3_5"), dtype=torch.bfloat16
    )
    measured = []
    for n in (7, 40):
        with torch.inference_mode():
            cache = model(input_ids=torch.arange(10, 10 + n)[None], use_cache=True).past_key_values
        measured.append(_state_bytes(cache))
    plan = plan_memory("tiny-qwen3_5", 8, (56, 56), "Q?", "bfloat16")
    assert measured[0] == measured[1] == plan.state_bytes > 0
    assert plan.peak_prefill_bytes == (
        plan.weight_bytes + plan.kv_cache_bytes + plan.state_bytes + plan.activation_bytes
    )
    assert "linear-attention state" in plan.table()


def test_parse_bytes_and_refusal_message() -> None:
    assert parse_bytes("8GiB") == 8 * 2**30 and parse_bytes("512MB") == 512 * 10**6
    assert parse_bytes("1e3") == 1000
    with pytest.raises(ConfigError):
        parse_bytes("lots")
    plan = MemoryPlan("m", 4, (28, 28), 10, 20, 100, 1000, True, 50, 1150, "float32")
    check_memory_limit(plan, 2000)
    with pytest.raises(MemoryLimitError, match="--frames") as refused:
        check_memory_limit(plan, 1000)
    # its own error (BudgetExceededError is the streaming KV budget's), same exit code as before
    assert not isinstance(refused.value, BudgetExceededError) and refused.value.exit_code == 2


def test_ask_refuses_over_memory_limit_before_loading_weights(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from vlmctx.models.contract import Adapter

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


# ---- offline planning from architecture cards ----------------------------------------------------
def test_plan_from_card_needs_no_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    """Qwen2-VL-7B at 64 frames of 448 px: visual tokens exact (32 x 16 x 16), weights from the
    card's parameter count, KV from its dims (2 x 28 layers x 4 heads x 128 x 2 bytes)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    plan = plan_memory("Qwen/Qwen2-VL-7B-Instruct", 64, (448, 448), "Q?", "bfloat16")
    assert plan.visual_tokens == 32 * 16 * 16
    assert plan.weight_bytes == 8_291_375_616 * 2 and not plan.weights_exact
    assert plan.kv_cache_bytes == plan.total_tokens * 2 * 28 * 4 * 128 * 2
    assert "card" in plan.note and "upper bound" in plan.note
    pooled = plan_memory("Qwen/Qwen2-VL-7B-Instruct", 64, (448, 448), "Q?", "bfloat16",
                         pooling="progressive")  # fmt: skip
    assert pooled.visual_tokens < plan.visual_tokens


def test_fit_table_agrees_with_exact_plans(monkeypatch: pytest.MonkeyPatch) -> None:
    """The linear extension of the fit table equals the exact count at 32 frames, and the frames
    it reports fit the memory size while 8 more do not (by the planner's own figures)."""
    from vlmctx.planner import FIT_STEP, Planner, fit_table

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model, size, dur = "llava-hf/llava-onevision-qwen2-0.5b-ov-hf", (240, 320), 600.0
    planner = Planner(model)
    memory = 4 * 2**30
    (row,) = fit_table(planner, size, dur, [memory], "bfloat16", "Q?", poolers=["none"])
    assert row.per_frame >= 196  # 14x14 pooled tokens per frame + its timestamp text
    exact = planner.count(32, size, "Q?", np.linspace(0, dur - 1e-3, 32), dur)
    assert exact.total <= row.base + row.per_frame * 32 <= exact.total + 32  # text: upper bound
    (n,) = row.frames
    kv, act = planner.per_token(2)
    weights, _ = planner.weights(2)
    tokens = row.base + row.per_frame * n
    assert weights + (kv + act) * tokens <= memory
    assert weights + (kv + act) * (tokens + row.per_frame * FIT_STEP) > memory


def test_cli_plan_fit_offline_and_bad_values(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["plan", "640x360@10m", "--model", "llava-hf/llava-onevision-qwen2-0.5b-ov-hf",
            "--dtype", "bfloat16", "--sampler-arg", "n=8"]  # fmt: skip
    assert main([*args, "--fit", "4GiB,80GiB"]) == 0
    out = capsys.readouterr().out
    assert "most frames that fit" in out and "every scheme fits the same frames" in out
    assert main([*args, "--fit", "4GiB,lots"]) != 0
    err = capsys.readouterr().err
    assert "lots" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert main([*args, "--fit", "0GiB"]) != 0
    assert main(["plan", "640x360@0s", "--model", "Qwen/Qwen2-VL-7B-Instruct"]) != 0
    err = capsys.readouterr().err
    assert "Traceback" not in err
