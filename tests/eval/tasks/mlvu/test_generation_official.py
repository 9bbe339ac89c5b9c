"""``mlvu_gen`` under ``protocol=official`` (the default): the judge prompts verbatim from MLVU's
``evaluate_ssc.py`` / ``evaluate_summary.py``, one call per answer, and the scores read as
``calculate.py`` reads them (first occurrence, up to the next comma; a missing second score adds
0; a slice that is no number is a scoring error), checked by hand through a local judge server
(issue 26)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.eval.conftest import cli, write_preds
from tests.eval.judge_server import JudgeServer
from tests.eval.tasks.mlvu.test_generation import PREDS, write_mlvu_gen
from vlmctx_eval.tasks.mlvu import judge_prompts


def official_canned(prompt: str) -> str | None:
    """Replies chosen by the answer under judgement (the official "Respondent's Answer:" line)."""
    answer = re.search(r"Respondent's Answer: (.*)", prompt)[1]
    if "opens the window" in answer:  # the official dict; first occurrence read
        return "Rationale.\n{'score_accuracy': 4.5, 'score_relevance': 5, 'total_score': 9.5}"
    if "chases" in answer:  # only one score: the second adds 0
        return "{'score_accuracy': 3, 'total': 3}"
    if "Bees" in answer:  # a first mention whose slice is no number: the script would stop
        return 'I first thought "score_completeness": 5 but no.\n{"score_completeness": 2, "score_reliability": 3}'
    return None


def test_official_prompts_and_reading(tmp_path: Path) -> None:
    root = tmp_path / "MLVU"
    write_mlvu_gen(root)
    out = tmp_path / "runs"
    with JudgeServer(official_canned) as srv:
        code = cli(
            [
                "eval",
                "--tasks",
                "mlvu_gen",
                "--task-arg",
                f"mlvu_gen:root={root}",
                "--predictions",
                str(write_preds(tmp_path / "p.jsonl", PREDS)),
                "--output-path",
                str(out),
                "--no-progress",
                "--judge-url",
                srv.url,
            ]
        )
    assert code == 0
    (f,) = list(out.rglob("results.json"))
    res = json.loads(f.read_text())["results"]["mlvu_gen"]
    # SSC: (4.5 + 5) and (3 + 0) -> sum of the means = 6.25; VS: the one summary is a scoring error
    assert res["scores"]["judge_ssc"] == pytest.approx(6.25)
    assert res["n_scoring_errors"] == 1 and res["scoring_errors"][0]["sample_id"] == "9_summary/0"
    bodies = [r["body"] for r in srv.requests]
    assert len(bodies) == 3 and all(b["temperature"] == 0.0 for b in bodies)  # no re-asks
    assert [b["messages"][0]["content"] for b in bodies] == [judge_prompts.SSC_SYSTEM] * 2 + [
        judge_prompts.VS_SYSTEM
    ]
    first = bodies[0]["messages"][1]["content"]
    assert first == judge_prompts.SSC_USER.format(
        question="What does the man do after entering?",
        scoring_points=["The man opens the window.", "He looks outside."],
        pred="He opens the window and looks out.",
    )
    assert "Scoring Points: ['The man opens the window.', 'He looks outside.']" in first
