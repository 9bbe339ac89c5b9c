"""The memory benchmarks' measuring code: live-bytes accounting, one CPU case end to end, the GPU
script's dry run and its frame search."""

from __future__ import annotations

import json

import pytest
import torch

from vlmctx_eval.bench import gpu_memory
from vlmctx_eval.bench.memory import LiveBytes, run_case

# head_dim 64 (the bench's M-RoPE sections need it)
SMALL_LM = dict(hidden_size=128, intermediate_size=512, num_hidden_layers=2,
                num_attention_heads=2, num_key_value_heads=1)  # fmt: skip


def test_live_bytes_sees_allocations_frees_and_the_peak():
    with LiveBytes() as live:
        a = torch.empty(1_000_000, dtype=torch.float32)  # 4 MB kept
        b = torch.empty(2_000_000, dtype=torch.float32)  # 8 MB freed below
        del b
    assert live.peak == 12_000_000
    assert live.end == 4_000_000
    assert a.untyped_storage().data_ptr() in live.allocs


@pytest.fixture(scope="module")
def cases() -> dict[str, dict]:
    torch.set_num_threads(1)
    return {p: run_case(4, p, text=SMALL_LM) for p in ("none", "progressive")}


def test_case_kv_matches_planner_and_accounting_adds_up(cases):
    for r in cases.values():
        assert r["attn"] == "sdpa"
        assert r["plan_tokens"] == r["tokens"]
        assert r["kv_planned"] == r["kv_measured"]  # same tokens, same formula: exact
        assert 0 < r["kv_at_peak"] <= r["kv_measured"]
        assert r["act_peak"] > 0
        assert r["lm_working_set"] == r["lm_inputs_bytes"] + r["kv_at_peak"] + r["act_peak"]
        assert r["total"] == r["weights"] + max(r["vision_live"], r["lm_working_set"])
        # the live bytes left after the prefill are the KV cache plus a few small outputs
        assert 0 <= r["lm_end_minus_kv"] < 64 * 1024


def test_progressive_shrinks_tokens_kv_and_working_set(cases):
    none, prog = cases["none"], cases["progressive"]
    assert prog["visual_after"] < none["visual_after"] == none["visual_before"]
    assert prog["kv_measured"] < none["kv_measured"]
    assert prog["lm_working_set"] < none["lm_working_set"]


def test_gpu_script_dry_run(tmp_path):
    out = tmp_path / "dry.json"
    report = gpu_memory.main(["--dry-run", "--max-frames", "8", "--out", str(out)])
    assert json.loads(out.read_text())["summary"] == report["summary"]
    rows = report["rows"]
    assert {(r["frames"], r["pooler"]) for r in rows} == {
        (f, p) for f in (4, 8) for p in ("none", "progressive")
    }
    for r in rows:
        assert r["attn"] == "sdpa" and r["fits"]
        assert r["kv_planned"] == r["kv_measured"]
        assert r["peak_bytes"] >= r["weights_bytes"] and r["prefill_tokens_per_s"] > 0
        assert r["peak_bytes"] == max(r["vision_peak_bytes"], r["lm_peak_bytes"])
    by = {(r["frames"], r["pooler"]): r for r in rows}
    assert by[8, "progressive"]["tokens"] < by[8, "none"]["tokens"]
    s = report["summary"]
    assert s["none"]["stopped"] == s["progressive"]["stopped"] == "max-frames (8)"
    assert s["progressive_vs_none_frames"] == 1.0 and s["ratio_is_exact"] is False


def _table_case(per_frame: dict[str, int], oom_over: int):
    """A deterministic case table (control-flow test of the search, no model): peak grows with
    frames; above ``oom_over`` bytes the 'device' raises out of memory in the LM stage."""

    def try_case(frames: int, pooler: str) -> dict:
        peak = frames * per_frame[pooler]
        if peak > oom_over:
            return dict(frames=frames, pooler=pooler, oom_stage="lm")
        return dict(frames=frames, pooler=pooler, peak_bytes=peak, tokens=frames,
                    prefill_tokens_per_s=1.0, peak_stage="lm")  # fmt: skip

    return try_case


def test_search_stops_each_pooler_at_its_first_oom_and_reports_exact_ratio():
    try_case = _table_case({"none": 10, "progressive": 4}, oom_over=700)
    rows, result = gpu_memory.search(try_case, ["none", "progressive"], 8, 4096, float("inf"))
    assert result["none"]["best"]["frames"] == 64  # 128 x 10 > 700
    assert result["progressive"]["best"]["frames"] == 128  # 256 x 4 > 700
    assert result["none"]["stopped"] == "out of memory at 128 frames (lm)"
    s = gpu_memory._summary(result)
    assert s["progressive_vs_none_frames"] == 2.0 and s["ratio_is_exact"] is True
    # capacity below the OOM point stops earlier, as if on a smaller device
    _, capped = gpu_memory.search(try_case, ["none"], 8, 4096, float("inf"), capacity=300)
    assert capped["none"]["best"]["frames"] == 16
    assert capped["none"]["stopped"] == "out of memory at 32 frames (over --capacity-gib)"


def test_search_time_budget_skips_the_case_predicted_to_overrun():
    now = [0.0]

    def try_case(frames: int, pooler: str) -> dict:
        now[0] += frames / 8  # each case takes frames/8 "seconds"
        return dict(frames=frames, pooler=pooler, peak_bytes=1, tokens=frames,
                    prefill_tokens_per_s=1.0, peak_stage="lm")  # fmt: skip

    rows, result = gpu_memory.search(try_case, ["none"], 8, 4096, 20.0, clock=lambda: now[0])
    # 8 (t=1), 16 (t=3), 32 (t=7); next predicted 4 x 4 = 16 s -> 23 > 20: stop
    assert [r["frames"] for r in rows] == [8, 16, 32]
    assert result["none"]["stopped"] == "time budget (next: 64 frames)"
    assert gpu_memory._summary(result)["none"]["max_frames"] == 32
