"""LVBench in its release layout: question splitting, accuracy per question type."""

from __future__ import annotations

import json
from pathlib import Path

from tests.eval.conftest import cli, read_results, touch, write_preds


def test_lvbench_per_question_type(tmp_path: Path, capsys):
    root = tmp_path / "LVBench"
    touch(root / "videos" / "k1.mp4")
    qa = [{"uid": "1", "question": "Who?\n(A) a\n(B) b\n(C) c\n(D) d", "answer": "A",
           "question_type": ["entity recognition", "reasoning"], "time_reference": "00:01-00:02"},
          {"uid": "2", "question": "When?\n(A) a\n(B) b\n(C) c\n(D) d", "answer": "(D)",
           "question_type": ["reasoning"], "time_reference": ""},
          {"uid": "3", "question": "no options here", "answer": "A", "question_type": []}]  # fmt: skip
    line = {"key": "k1", "type": "sports", "video_info": {"duration_minutes": 60.0}, "qa": qa}
    (root / "video_info.meta.jsonl").write_text(json.dumps(line) + "\n", encoding="utf-8")
    preds = {"1": "A", "2": "B"}
    code = cli(["eval", "--tasks", "lvbench", "--task-arg", f"lvbench:root={root}",
                "--predictions", str(write_preds(tmp_path / "p.jsonl", preds)),
                "--output-path", str(tmp_path / "out"), "--no-progress"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    res = read_results(tmp_path / "out")["results"]["lvbench"]
    assert res["scores"]["acc"] == 50.0
    assert res["breakdowns"]["by_category"]["acc"] == {
        "entity recognition": 100.0, "reasoning": 50.0
    }  # fmt: skip
    # "(D)" is compared as released (polish_answer gives letters: never equal); the question
    # without options is kept, as the official scripts keep every question (no prediction here)
    assert res["n_data_errors"] == 0 and res["n_missing"] == 1
