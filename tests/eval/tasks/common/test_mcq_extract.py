"""lmms-eval's ``extract_mcq_answer`` port against a transcription of the function as written
(EvolvingLMMs-Lab/lmms-eval@75571cfe0fa36ca5ec2e6aa2bb268f9d38295af3
``lmms_eval/tasks/_task_utils/mcq_extract.py``), on the generative corpus; and against the
installed function when lmms-eval is importable."""

from __future__ import annotations

import pytest

from tests.eval.tasks.replies import lmms_eval_module, mcq_replies
from vlmctx_eval.tasks.common.mcq_extract import ANSWER_PHRASES, extract_mcq_answer

_FORMAT_PRIORITY = {
    "start": 10,
    "end": 9,
    "phrase": 7,
    "parentheses": 6,
    "period": 5,
    "colon": 4,
    "right_paren": 3,
    "space": 2,
    "fallback": 0,
}


def oracle(response, choices=None):  # transcription, statement by statement
    if not response or not response.strip():
        return ""
    all_choices = choices or ["A", "B", "C", "D", "E", "F", "G", "H"]
    text = response.strip()
    for char in [",", ".", "!", "?", ";", ":", "'", '"']:
        text = text.strip(char)
    text = " " + text + " "
    candidates = []
    for ch in all_choices:
        if f"({ch})" in text:
            candidates.append((ch, text.rfind(f"({ch})"), "parentheses"))
    for ch in all_choices:
        if f"{ch}." in text:
            candidates.append((ch, text.rfind(f"{ch}."), "period"))
    for ch in all_choices:
        if f"{ch}:" in text:
            candidates.append((ch, text.rfind(f"{ch}:"), "colon"))
    for ch in all_choices:
        if f"{ch})" in text:
            candidates.append((ch, text.rfind(f"{ch})"), "right_paren"))
    for ch in all_choices:
        if f"{ch} " in text:
            candidates.append((ch, text.rfind(f"{ch} "), "space"))
    text_lower = text.lower()
    for phrase in ANSWER_PHRASES:
        idx = text_lower.find(phrase)
        if idx != -1:
            after = idx + len(phrase)
            for ch in all_choices:
                ch_pos = text.find(ch, after)
                if ch_pos != -1:
                    candidates.append((ch, ch_pos, "phrase"))
    stripped = text.strip()
    for ch in all_choices:
        if stripped.startswith(ch) and (len(stripped) == 1 or not stripped[1].isalpha()):
            candidates.append((ch, 0, "start"))
    for ch in all_choices:
        if stripped.endswith(ch) and (len(stripped) == 1 or not stripped[-2].isalpha()):
            candidates.append((ch, len(text) - 1, "end"))
    if not candidates:
        for ch in all_choices:
            if ch in text:
                candidates.append((ch, text.rfind(ch), "fallback"))
    if not candidates:
        return ""
    candidates.sort(key=lambda x: (_FORMAT_PRIORITY.get(x[2], 0), x[1]), reverse=True)
    return candidates[0][0]


def test_phrase_list_is_lmms_evals():
    assert len(ANSWER_PHRASES) == 27 and ANSWER_PHRASES[0] == "the answer is"


@pytest.mark.parametrize("letters", ["ABCD", "ABCDE"])
def test_port_agrees_on_corpus(letters):
    corpus = mcq_replies(letters, n=2400, seed=7)
    bad = [r for r in corpus if extract_mcq_answer(r, tuple(letters)) != oracle(r, list(letters))]
    assert not bad, f"{len(bad)}/{len(corpus)} disagree, e.g. {bad[:5]}"
    assert not [r for r in corpus if extract_mcq_answer(r) != oracle(r)]


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("B", "B"),
        ("(C) a dog", "C"),
        ("The answer is D", "D"),
        ("A dog runs to C.", "A"),  # "A " at the start wins
        ("b", ""),
        ("", ""),
        ("I choose B, not A, because", "A"),
        ("Dogs", "D"),
    ],
)
def test_hand_cases(reply, expected):
    assert extract_mcq_answer(reply, ("A", "B", "C", "D")) == expected


def test_against_lmms_eval_when_installed():
    mod = lmms_eval_module("lmms_eval.tasks._task_utils.mcq_extract")
    for r in mcq_replies("ABCD", n=2400, seed=7):
        assert extract_mcq_answer(r, ("A", "B", "C", "D")) == mod.extract_mcq_answer(
            r, list("ABCD")
        )
