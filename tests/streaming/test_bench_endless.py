"""The endless-stream benchmark on a short stream: memory samples at the set interval, host bytes
under the host budget and flat once the tiers are full, asks at the marks, paired needle rows and
their summary (Wilson intervals, McNemar), shards combined."""

from __future__ import annotations

import argparse

from tests.streaming.conftest import load
from vlmctx_eval.bench.streaming_endless import combine, memory_run, needle_summary, needle_trial
from vlmctx_eval.bench.streaming_endless_report import markdown


def _args(**kw) -> argparse.Namespace:
    base = dict(budget=78, retrieve_tokens=36, top_k=2, host_budget="256KiB", chunk_context="window",
                hours=6 / 60, sample_min=2, ask_hours=[4 / 60, 6 / 60], asks=1,
                needle_hours=[2 / 60, 3 / 60], long_trials=1, needle_trials=2)  # fmt: skip
    return argparse.Namespace(**{**base, **kw})


def test_memory_run_samples_and_stays_under_the_host_budget() -> None:
    lm = load("toylab")
    mem = memory_run(lm, _args())
    samples = mem["samples"]
    assert [round(s["minute"]) for s in samples] == [2, 4, 6]
    assert all(s["host_bytes"] <= 256 * 1024 for s in samples)
    assert len({s["device_kv_bytes"] for s in samples}) == 1
    assert samples[-1]["compact_merges"] > 0  # the compact tier filled and merged
    assert samples[-1]["host_bytes"] - samples[-2]["host_bytes"] <= 0.1 * samples[-2]["host_bytes"]
    assert [a["hour"] for a in mem["asks"]] == [4 / 60, 6 / 60]
    assert (
        mem["asks"][-1]["entries_scored"]
        == samples[-1]["host_kv_blocks"] + samples[-1]["compact_blocks"]
    )


def test_needle_trials_are_paired_and_summarised() -> None:
    lm = load("toylab")
    args = _args()
    rows = needle_trial(lm, args, 0) + needle_trial(lm, args, 1)
    # trial 0 is long (both distances), trial 1 stops at the first
    assert [(r["trial"], r["hours_back"], r["mode"]) for r in rows] == [
        (0, 2 / 60, "tiered"), (0, 2 / 60, "window"), (0, 3 / 60, "tiered"),
        (0, 3 / 60, "window"), (1, 2 / 60, "tiered"), (1, 2 / 60, "window"),
    ]  # fmt: skip
    assert not any(r["needle_retrieved"] for r in rows if r["mode"] == "window")
    summary = needle_summary(rows, args.needle_hours)
    assert [s["n"] for s in summary] == [2, 1]
    for s in summary:
        for m in ("tiered", "window"):
            lo, hi = s[m]["wilson95"]
            assert 0 <= lo <= s[m]["acc"] <= hi <= 1
    res = {**vars(args), "command": "x", "started": "now", "chunk_frames": 16,
           "needle_rows": rows, "needle_wall_s": 1.0, "load_average": (1.0, 1.0, 1.0)}  # fmt: skip
    both = combine([{**res, "needle_rows": rows[:4]}, {**res, "needle_rows": rows[4:]}])
    assert both["needle_rows"] == sorted(
        rows, key=lambda r: (r["trial"], r["hours_back"], r["mode"])
    )
    assert "| 0.0333333 h | 2 |" in markdown(both)
