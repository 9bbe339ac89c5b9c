"""The streaming benchmark's measurement on a short stream: one session at a time, rows in
(minutes, bounded first) order, bounded device memory under its budget and flat once the window
is full, full context growing with the stream."""

from __future__ import annotations

from vlmctx_eval.bench.streaming import flatness, markdown, run


def test_bench_rows_bounded_flat_full_grows() -> None:
    res = run([1, 2, 4], budget=64, retrieve=16, asks=1)
    rows = res["rows"]
    assert [(r["minutes"], r["session"]) for r in rows] == [
        (m, s) for m in (1, 2, 4) for s in ("bounded", "full")
    ]
    bounded = [r for r in rows if r["session"] == "bounded"]
    full = [r for r in rows if r["session"] == "full"]
    assert all(r["device_tokens"] <= 64 for r in bounded)
    assert bounded[1]["device_kv_bytes"] == bounded[2]["device_kv_bytes"]  # window full by 2 min
    assert bounded[2]["offloaded_blocks"] > bounded[1]["offloaded_blocks"] > 0
    assert full[0]["device_kv_bytes"] < full[1]["device_kv_bytes"] < full[2]["device_kv_bytes"]
    assert all(r["offloaded_blocks"] == 0 for r in full)
    assert flatness(rows, "bounded", "device_kv_bytes") is None  # no 10/60-minute points here
    assert "| 4 | 240 | bounded |" in markdown(res)
