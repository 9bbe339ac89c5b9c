"""MLVU (dev multiple choice) in its release layout: the official answer check, M-Avg by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.eval.conftest import cli, read_results, touch, write_preds


def test_mlvu_m_avg_is_the_mean_of_task_accuracies(tmp_path: Path, capsys):
    root = tmp_path / "MLVU"
    for task, n in (("1_plotQA", 3), ("4_count", 1)):
        recs = []
        for i in range(n):
            touch(root / "video" / task / f"v{i}.mp4")
            recs.append({"video": f"v{i}.mp4", "duration": 200.0 + 1000 * i, "question": "q?",
                         "candidates": ["x", "y", "z", "w"], "answer": "y",
                         "question_type": task.split("_", 1)[1]})  # fmt: skip
        (root / "json").mkdir(parents=True, exist_ok=True)
        (root / "json" / f"{task}.json").write_text(json.dumps(recs), encoding="utf-8")
    preds = {"1_plotQA/0": "(B) y", "1_plotQA/1": "B", "1_plotQA/2": "(A) x", "4_count/0": "C."}
    code = cli(["eval", "--tasks", "mlvu", "--task-arg", f"mlvu:root={root}", "--predictions",
                str(write_preds(tmp_path / "p.jsonl", preds)), "--output-path",
                str(tmp_path / "out"), "--no-progress"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    res = read_results(tmp_path / "out")["results"]["mlvu"]
    # plotQA 2/3, count 0/1: M-Avg = (66.67 + 0) / 2; overall 2/4
    assert res["primary"] == "macro_acc"
    assert res["scores"]["macro_acc"] == pytest.approx(100 / 3)
    assert res["scores"]["acc"] == pytest.approx(50.0)
