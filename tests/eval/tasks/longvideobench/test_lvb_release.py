"""LongVideoBench as its tars extract (``lvb_val.json``, ``videos/``, ``subtitles/``), scored
with lmms-eval's parser (the default protocol: LongVideoBench ships no scorer) and the two
prompts (issue 26)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.eval.tasks.rescoring import rescore
from vlmctx_eval.tasks.registry import TASKS, load_builtin_tasks


def _release(root: Path) -> None:
    recs = []
    for i, group in enumerate([15, 60, 600, 3600]):
        (root / "videos").mkdir(parents=True, exist_ok=True)
        (root / "videos" / f"v{i}.mp4").write_bytes(b"")
        recs.append(
            {
                "id": f"q{i}",
                "video_id": f"v{i}",
                "video_path": f"v{i}.mp4",
                "subtitle_path": f"v{i}_en.json",
                "question": "What?",
                "candidates": ["cat", "dog", "cow"],
                "correct_choice": 2,
                "duration_group": group,
                "duration": float(group),
                "starting_timestamp_for_subtitles": 0.0,
                "question_category": "T3E",
                "level": "L1",
            }
        )
    (root / "lvb_val.json").write_text(json.dumps(recs), encoding="utf-8")


def test_lmms_eval_parser_scores_the_prompt_format(tmp_path: Path):
    root = tmp_path / "LVB"
    _release(root)
    # "C. cow" (the prompt's own format) reads C; "The answer is C" C; "Dogs, so B" reads D
    # (first capital A-E); "I cannot tell" draws at random (seeded by the id: reproducible)
    preds = {"q0": "C. cow", "q1": "The answer is C", "q2": "Dogs, so B", "q3": "I cannot tell"}
    res = rescore(tmp_path, "longvideobench", root, preds)
    drawn = TASKS.create("longvideobench", root=str(root)).load().samples[3]
    from vlmctx_eval.tasks.longvideobench.official import lmms_parse

    q3_right = lmms_parse("I cannot tell", 3, drawn.id)[0] == "C"
    assert res["scores"]["acc"] == pytest.approx(100 * (2 + q3_right) / 4)
    assert res["scores"]["unparsed_pct"] == 25.0


def test_prompts_per_protocol(tmp_path: Path):
    root = tmp_path / "LVB"
    _release(root)
    load_builtin_tasks()
    lm = TASKS.create("longvideobench", root=str(root)).load().samples[0].question
    assert lm == (
        "What?\nA. cat\nB. dog\nC. cow\n"
        "Answer with the option's letter from the given choices directly.\n"
    )
    off = TASKS.create("longvideobench", root=str(root), protocol="official").load().samples[0]
    assert off.question.startswith("Question: What?\nA. cat\n")
