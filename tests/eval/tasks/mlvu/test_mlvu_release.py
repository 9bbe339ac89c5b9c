"""MLVU dev as released (``json/*.json``, ``video/<task>/``), including a record whose answer is
none of its candidates (as in ``2_needle.json``): kept, always wrong. Scores hand-computed under
both protocols (issue 26)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.eval.tasks.rescoring import rescore
from vlmctx_eval.tasks.registry import TASKS, load_builtin_tasks


def _release(root: Path) -> None:
    tasks = {"1_plotQA": ["y", "y", "y"], "2_needle": ["y", "not a candidate"], "4_count": ["y"]}
    for task, answers in tasks.items():
        recs = []
        for i, ans in enumerate(answers):
            (root / "video" / task).mkdir(parents=True, exist_ok=True)
            (root / "video" / task / f"v{i}.mp4").write_bytes(b"")
            recs.append(
                {
                    "video": f"v{i}.mp4",
                    "duration": 200.0 + 1000 * i,
                    "question": "q?",
                    "candidates": ["x", "y", "z", "w"],
                    "answer": ans,
                    "question_type": task.split("_", 1)[1],
                }
            )
        (root / "json").mkdir(parents=True, exist_ok=True)
        (root / "json" / f"{task}.json").write_text(json.dumps(recs), encoding="utf-8")


PREDS = {
    "1_plotQA/0": "B) y",
    "1_plotQA/1": "B",
    "1_plotQA/2": "B.",
    "2_needle/0": "(B)",
    "2_needle/1": "B",
    "4_count/0": "Answer: B",
}


def _run(tmp_path: Path, protocol: str) -> dict:
    root = tmp_path / "MLVU"
    _release(root)
    return rescore(tmp_path, "mlvu", root, PREDS, protocol)


def test_official_check_ans_and_m_avg(tmp_path: Path):
    res = _run(tmp_path, "official")
    assert res["n_samples"] == 6 and res["n_data_errors"] == 0  # the bad needle record stays
    # plotQA: "B) y" and "B" right, "B." wrong -> 2/3; needle: "(B)" right, gold "@" wrong -> 1/2;
    # count: "Answer: B" wrong -> 0/1.  M-Avg = (66.67 + 50 + 0) / 3
    assert res["scores"]["macro_acc"] == pytest.approx((200 / 3 + 50) / 3)
    assert res["breakdowns"]["by_category"]["acc"]["needle"] == 50.0


def test_lmms_eval_extraction_and_mean_over_seven_types(tmp_path: Path):
    res = _run(tmp_path, "lmms-eval")
    # extract_mcq_answer reads B everywhere: plotQA 3/3, needle 1/2, count 1/1;
    # the mean is over the seven dev types, four of them absent (0)
    assert res["scores"]["macro_acc"] == pytest.approx((100 + 50 + 100) / 7)


def test_official_prompt_parts(tmp_path: Path):
    root = tmp_path / "MLVU"
    _release(root)
    load_builtin_tasks()
    s = TASKS.create("mlvu", root=str(root)).load().samples[0]
    assert (
        s.question
        == "Question: q?\nOptions:\n(A) x\n(B) y\n(C) z\n(D) w\nOnly give the best option."
    )
    assert s.assistant_prefix == "Best Option: (" and s.meta["system"].startswith("Carefully watch")
    lm = TASKS.create("mlvu", root=str(root), protocol="lmms-eval").load().samples[0]
    assert lm.question.endswith("(D) w\nOnly give the best option.\nBest option: (")
