"""MLVU multiple-choice ports against the rule as written (issue 26).

Oracle: a transcription of ``check_ans`` and ``qa_template`` from JUNJIE99/MLVU@fd060c10a43ea48a35100a22688a927b8e531199
``evaluation/multiple_choice_evaluation/choice_bench.py``.
"""

from __future__ import annotations

import pytest

from tests.eval.tasks.replies import mcq_replies
from vlmctx_eval.tasks.mlvu import official as mlvu


def oracle_check_ans(pred, gt):  # transcription
    flag = False
    index = gt.index("(")
    index2 = gt.index(")")
    gt_option = gt[index + 1 : index2]
    if ")" in pred:
        index3 = pred.index(")")
        pred = pred[index3 - 1 : index3]
    if pred == gt_option:
        flag = True
    return flag


def oracle_qa_template(data):  # transcription of MLVU.qa_template
    question = f"Question: {data['question']}\n"
    question += "Options:\n"
    answer = data["answer"]
    answer_idx = -1
    for idx, c in enumerate(data["candidates"]):
        question += f"({chr(ord('A') + idx)}) {c}\n"
        if c == answer:
            answer_idx = idx
    question = question.rstrip()
    answer = f"({chr(ord('A') + answer_idx)}) {answer}"
    return question, answer


# what a model writes after the official assistant prefix "Best Option: (": "B) ...", "B", ...
CORPUS = mcq_replies("ABCD", n=2400, seed=1)
CORPUS += [r[1:] for r in CORPUS[:200] if r.startswith("(")]
GOLDS = ["(A) a red car", "(B) Dogs", "(C) 2", "(D) none of the above", "(@) missing"]


def test_corpus_size():
    assert len(CORPUS) >= 2000


def test_official_check_ans_agrees_on_corpus():
    bad = [(r, g) for r in CORPUS for g in GOLDS if mlvu.check_ans(r, g) != oracle_check_ans(r, g)]
    assert not bad, f"{len(bad)}/{len(CORPUS) * len(GOLDS)} disagree, e.g. {bad[:5]}"


@pytest.mark.parametrize(
    ("reply", "gold", "ok"),
    [
        ("A", "(A) x", True),
        ("A) a dog", "(A) x", True),
        ("(A)", "(A) x", True),
        ("A.", "(A) x", False),
        ("a)", "(A) x", False),
        (" A", "(A) x", False),
        ("Answer: A", "(A) x", False),
        ("I pick B) not A)", "(B) x", True),
        (")A", "(A) x", False),
        ("", "(A) x", False),
        ("@", "(@) x", True),
        ("(A) or (B)", "(A) x", True),
    ],
)
def test_check_ans_hand_cases(reply, gold, ok):
    assert mlvu.check_ans(reply, gold) is ok
    assert oracle_check_ans(reply, gold) is ok


def test_qa_template_and_missing_answer():
    data = {"question": "Q?", "candidates": ["x", "y", "x"], "answer": "x"}
    assert mlvu.qa_template(
        data["question"], data["candidates"], data["answer"]
    ) == oracle_qa_template(data)
    assert mlvu.qa_template("Q?", ["x", "y", "x"], "x")[1] == "(C) x"  # the LAST equal candidate
    block, gold = mlvu.qa_template("Q?", ["x", "y"], "z")
    assert gold == "(@) z" and mlvu.gold_letter(gold) == "@"
    assert block == "Question: Q?\nOptions:\n(A) x\n(B) y"


def test_m_avg_hand_computed():
    rows = [("count", True), ("count", False), ("ego", True), ("needle", False), ("needle", False)]
    off = mlvu.m_avg(rows, "official")  # (50 + 100 + 0) / 3
    assert off["avg"] == pytest.approx(50.0)
    lm = mlvu.m_avg(rows, "lmms-eval")  # (50 + 100 + 0 + 0 + 0 + 0 + 0) / 7
    assert lm["avg"] == pytest.approx(150 / 7)


def test_prompts():
    block = "Question: Q?\nOptions:\n(A) x\n(B) y"
    assert mlvu.official_user_text(block).endswith("(B) y\nOnly give the best option.")
    assert mlvu.ASSISTANT_PREFIX == "Best Option: ("
    assert mlvu.lmms_user_text(block).endswith("\nOnly give the best option.\nBest option: (")


def oracle_extract_scores(text):  # transcription of calculate.py's extract_scores
    keys = ["score_accuracy", "score_relevance"]
    scores = []
    for key in keys:
        start_index = text.find(key)
        if start_index == -1:
            continue
        start_number_index = text.find(":", start_index) + 2
        end_number_index = text.find(",", start_number_index)
        score = float(text[start_number_index:end_number_index])
        scores.append(score)
    return scores


JUDGE_REPLIES = [
    "{'score_accuracy': 3, 'score_relevance': 4, 'total_score': 7}",
    "Rationale... score_accuracy is discussed first.\n{'score_accuracy': 3, 'score_relevance': 4}",
    '{"score_accuracy": 4.5, "score_relevance": 5, "total_score": 9.5}',
    "{'score_relevance': 2, 'score_accuracy': 1, }",
    "{'score_accuracy': 5}",
    "no scores here",
    "{'score_accuracy':3, 'score_relevance':4, 'total_score':7}",
]


@pytest.mark.parametrize("text", JUDGE_REPLIES)
def test_judge_scores_read_the_first_occurrence(text):
    try:
        want = oracle_extract_scores(text)
    except ValueError:
        with pytest.raises(ValueError):
            mlvu.official_judge_scores(text, mlvu.SSC_KEYS)
        return
    assert mlvu.official_judge_scores(text, mlvu.SSC_KEYS) == want


def test_judge_pair_quirks():
    assert mlvu.official_judge_pair([3.0, 4.0]) == (3.0, 4.0)
    assert mlvu.official_judge_pair([5.0]) == (5.0, 0.0)
    assert mlvu.official_judge_pair([]) == (0.0, 0.0)
