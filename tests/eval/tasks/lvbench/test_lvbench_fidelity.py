"""LVBench ports (issue 26). Oracle: a transcription of ``polish_answer`` and
``compute_accuracy`` from THUDM/LVBench@f998d95541cd5f0953c52449b185c6467b9b099d."""

from __future__ import annotations

import json
from collections import defaultdict

import pytest

from tests.eval.tasks.replies import lmms_eval_module, mcq_replies
from vlmctx_eval.tasks.lvbench import official as lvb
from vlmctx_eval.tasks.lvbench import release


def oracle_polish(answer: str):  # transcription of lvbench/utils/answer_util.py
    answer = answer.strip()
    answer = answer.split(")")[0]
    answer = answer.strip()
    if "(" in answer:
        try:
            answer = answer.split("(")[1]
            answer = answer.strip()
        except:  # noqa: E722 (as written)
            pass
    answer = answer.split(" ")[0]
    if len(answer) > 0:
        return answer[0]
    return answer


def oracle_accuracy(model_answers, video_meta):  # transcription of compute_accuracy's loop
    total_qa_num = right_num = 0
    category_right, category_total, category_acc = defaultdict(int), defaultdict(int), {}
    for meta_data in video_meta:
        for qa in meta_data["qa"]:
            uid = str(qa["uid"])
            if uid in model_answers:
                model_answer = model_answers[uid]
                for category in qa["question_type"]:
                    category_total[category] += 1
                    if model_answer == qa["answer"]:
                        category_right[category] += 1
                if model_answer == qa["answer"]:
                    right_num += 1
                total_qa_num += 1
    for key in category_total:
        category_acc[key] = category_right[key] / category_total[key]
    category_acc["acc"] = float(right_num) / total_qa_num
    return category_acc


CORPUS = mcq_replies("ABCD", n=2400, seed=5)


def test_polish_answer_agrees_on_corpus():
    bad = [r for r in CORPUS if lvb.polish_answer(r) != oracle_polish(r)]
    assert not bad, f"{len(bad)}/{len(CORPUS)} disagree, e.g. {bad[:5]}"


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("B", "B"),
        ("(B) a dog", "B"),
        ("B) a dog", "B"),
        ("The answer is B", "T"),
        ("b", "b"),
        ("", ""),
        ("( C )", "C"),
        ("Answer: (D)", "D"),
        ("A. text", "A"),
        ("选C", "选"),
    ],
)
def test_polish_answer_hand_cases(reply, expected):
    assert lvb.polish_answer(reply) == expected == oracle_polish(reply)


def test_accuracy_matches_compute_accuracy():
    meta = [
        {
            "qa": [
                {"uid": 1, "answer": "A", "question_type": ["TG", "Rea"]},
                {"uid": 2, "answer": "B", "question_type": ["TG"]},
                {"uid": 3, "answer": "C", "question_type": ["ER"]},
            ]
        }
    ]
    replies = {"1": "(A) x", "2": "The answer is B", "3": "C"}
    answers = {k: oracle_polish(v) for k, v in replies.items()}
    want = oracle_accuracy(answers, meta)
    rows = [
        (qa["question_type"], qa["answer"], lvb.polish_answer(replies[str(qa["uid"])]))
        for qa in meta[0]["qa"]
    ]
    got = lvb.accuracy(rows)
    assert got["acc"] == pytest.approx(want["acc"]) == pytest.approx(2 / 3)
    assert got["per_type"] == {k: v for k, v in want.items() if k != "acc"}
    assert got["per_type"]["TG"] == 0.5


def test_video2dataset_layout(tmp_path):
    shard = tmp_path / "videos" / "00000"
    shard.mkdir(parents=True)
    for i, key in enumerate(["abcdefghijk", "ZYXWVUTSRQP"]):
        (shard / f"0000000{i}.mp4").write_bytes(b"x")
        (shard / f"0000000{i}.json").write_text(
            json.dumps({"url": f"https://www.youtube.com/watch?v={key}", "key": f"0000000{i}"})
        )
    index = release.video2dataset_index(str(tmp_path / "videos"))
    assert index == {
        "abcdefghijk": str(shard / "00000000.mp4"),
        "ZYXWVUTSRQP": str(shard / "00000001.mp4"),
    }
    assert release.numbered_video(str(tmp_path / "videos"), 1) == str(shard / "00000001.mp4")
    assert release.numbered_video(str(tmp_path / "videos"), 2) is None


def test_against_lmms_eval_when_installed():
    utils = lmms_eval_module("lmms_eval.tasks.lvbench.utils")
    for r in CORPUS:
        assert lvb.lmms_extract(r) == utils.extract_characters_regex(r), r
