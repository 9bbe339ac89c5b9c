"""The streaming needle evaluation end to end on a few questions (``--quick``): the toylab model
streams real toy-lab scenes into three sessions, and the written results hold what was asked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vlmctx_eval.experiments import streaming_needle as sn


def test_scoring_and_paired_counts() -> None:
    assert sn.correct(" Red.", "red") and not sn.correct("reddish", "red")
    rows = [
        {"trial": t, "mode": m, "correct": c}
        for t, (a, b) in enumerate([(1, 0), (1, 0), (0, 1), (1, 1), (0, 0)])
        for m, c in (("window", bool(a)), ("retrieval", bool(b)))
    ]
    t = sn.paired(rows, "trial", "window", "retrieval")
    assert (t["n"], t["a_only"], t["b_only"]) == (5, 2, 1)
    assert t["method"] == "exact binomial" and t["p"] == pytest.approx(1.0)
    cell = sn.accuracy([r for r in rows if r["mode"] == "window"])
    assert cell["correct"] == 3 and cell["ci95"][0] < 0.6 < cell["ci95"][1]


def test_quick_run_writes_tables_with_intervals(tmp_path: Path) -> None:
    assert sn.main(["--quick", "--out", str(tmp_path)]) == 0
    res = json.loads((tmp_path / "streaming_needle.json").read_text())
    setup = sn.QUICK
    rows = res["needle_rows"]
    assert len(rows) == setup.trials * len(setup.distances_s) * len(sn.MODES)
    near, far = setup.distances_s
    by = {(r["trial"], r["distance_s"], r["mode"]): r for r in rows}
    for t in range(setup.trials):
        assert all(by[t, near, m]["needle_in_window"] for m in sn.MODES)  # seconds ago: in view
        # 40 s back: inside the window-only cache (64 frames) and full context, outside the
        # retrieval session's shorter window (32 frames): there only a retrieved block has it
        assert by[t, far, "full"]["needle_in_window"] and by[t, far, "window"]["needle_in_window"]
        assert not by[t, far, "retrieval"]["needle_in_window"]
        assert by[t, far, "retrieval"]["asked_after_s"] >= far
        assert by[t, far, "window"]["context_tokens"] <= setup.budget
        assert by[t, far, "retrieval"]["context_tokens"] <= setup.budget
        assert not by[t, far, "window"]["retrieved_s"]  # top_k=0: never retrieves
    assert list(res["analysis"]["needle"]) == [str(d) for d in setup.distances_s]
    for cell in res["analysis"]["needle"].values():
        for m in sn.MODES:
            c = cell["modes"][m]
            assert c["n"] == setup.trials
            assert c["ci95"][0] <= c["acc"] <= c["ci95"][1]
        assert {(t["a"], t["b"]) for t in cell["tests"]} == {
            ("window", "retrieval"),
            ("full", "retrieval"),
            ("full", "window"),
        }
    toy = res["toylab_rows"]
    assert {r["mode"] for r in toy} == {"one-shot", *sn.MODES}
    assert len(toy) == len(setup.toylab_kinds) * setup.toylab_per_kind * 4
    md = (tmp_path / "streaming_needle.md").read_text()
    assert "Wilson 95%" in md and "McNemar" in md and "one-shot" in md
    assert (tmp_path / "streaming_needle.png").stat().st_size > 5_000
    assert res["cpu_s"]["total"] > 0


def test_bad_trials_is_one_line(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        sn.main(["--trials", "0"])
    assert exc.value.code == 2
    assert "--trials must be >= 1" in capsys.readouterr().err
