"""Shared text metrics (MMLongBench's reference semantics) against hand-computed values."""

from __future__ import annotations

import pytest

from vlmctx_eval.tasks.common import text_metrics as TM


def test_normalize_and_parse_output():
    assert TM.normalize_answer("The  Eiffel-Tower, a landmark!") == "eiffeltower landmark"
    assert TM.parse_output("Reasoning first. Answer: 42") == "42"
    assert TM.parse_output("answer: Answer: Paris") == "Paris"
    assert TM.parse_output("no prefix here ") == "no prefix here"
    assert TM.parse_output("Summary: text", "Summary:") == "text"


def test_sub_em_lists_and_nested_lists():
    assert TM.sub_em("The answer is Paris.", ["London", "paris"]) == 1.0
    assert TM.sub_em("Babbage", [["Ada Lovelace"], ["Lovelace"]]) == 0.0
    assert TM.sub_em("Countess Lovelace", [["Ada Lovelace"], ["Lovelace"]]) == 1.0
    assert TM.sub_em("an apple", "the apple") == 1.0  # articles removed on both sides


def test_rouge_hand_values():
    r = TM.rouge("cat dog bird fish", "cat dog cow fish")
    assert r["rougeL_f1"] == pytest.approx(0.75)
    assert r["rougeLsum_f1"] == pytest.approx(0.75)
    two = TM.rouge("cat dog bird fish", ["zebra", "cat dog cow fish"])  # max over golds
    assert two["rougeLsum_recall"] == pytest.approx(0.75)
