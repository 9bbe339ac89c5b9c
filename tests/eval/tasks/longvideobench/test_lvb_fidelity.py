"""LongVideoBench ports (issue 26). LongVideoBench ships no scorer; its README points to
lmms-eval, whose ``parse_multi_choice_response`` (EvolvingLMMs-Lab/lmms-eval@75571cfe0fa36ca5ec2e6aa2bb268f9d38295af3
``lmms_eval/tasks/longvideobench/utils.py``) is transcribed below as the oracle."""

from __future__ import annotations

import random
import re

from tests.eval.tasks.replies import lmms_eval_module, mcq_replies
from vlmctx_eval.tasks.longvideobench import official as lvb


def oracle_parse(response, all_choices, index2ans):  # transcription; random fallback -> None
    s = response.strip()
    answer_prefixes = [
        "The best answer is",
        "The correct answer is",
        "The answer is",
        "The answer",
        "The best option is",
        "The correct option is",
        "Best answer:",
        "Best option:",
    ]
    for answer_prefix in answer_prefixes:
        s = s.replace(answer_prefix, "")
    if len(s.split()) > 10 and not re.search("[ABCDE]", s):
        return None
    matches = re.search(r"[ABCDE]", s)
    if matches is None:
        return None
    return matches[0]


CORPUS = mcq_replies("ABCDE", n=2400, seed=3)


def test_extraction_agrees_on_corpus():
    choices = list("ABCDE")
    bad = [r for r in CORPUS if (lvb.lmms_extract(r) or None) != oracle_parse(r, choices, {})]
    assert not bad, f"{len(bad)}/{len(CORPUS)} disagree, e.g. {bad[:5]}"


def test_random_fallback_is_a_candidate_and_reproducible():
    letter, drawn = lvb.lmms_parse("I do not know", 4, seed="q1")
    assert (
        drawn
        and letter in "ABCD"
        and lvb.lmms_parse("I do not know", 4, seed="q1") == (letter, True)
    )
    assert lvb.lmms_parse("C. middle", 4, seed="q1") == ("C", False)
    assert lvb.lmms_parse("The best answer is E", 4, seed="x") == ("E", False)  # [ABCDE], always


def test_prompts_are_the_sources_wording():
    off = lvb.official_prompt("What happens?", ["a cat", "a dog"])
    assert off == (
        "Question: What happens?\nA. a cat\nB. a dog\n"
        "Answer with the option's letter from the given choices directly."
    )
    lm = lvb.lmms_prompt("What happens?", ["a cat", "a dog"])
    assert lm == (
        "What happens?\nA. a cat\nB. a dog\n"
        "Answer with the option's letter from the given choices directly.\n"
    )


def test_against_lmms_eval_when_installed():
    utils = lmms_eval_module("lmms_eval.tasks.longvideobench.utils")
    for r in CORPUS:
        got = lvb.lmms_extract(r)
        if got:
            random.seed(0)
            assert utils.parse_multi_choice_response(r, list("ABCDE"), {}) == got, r
