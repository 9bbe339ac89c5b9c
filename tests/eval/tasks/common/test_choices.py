"""Multiple-choice answer parsing: the generic letter parser and Video-MME's official rule."""

from __future__ import annotations

import pytest

from vlmctx.errors import DataFormatError
from vlmctx_eval.tasks.common.choices import (
    answer_letter,
    normalize_options,
    parse_letter,
)

OPTS = ["a red car", "a blue bus", "a dog", "nothing"]


@pytest.mark.parametrize(
    "reply,letter",
    [("B", "B"), ("(B)", "B"), ("B. a blue bus", "B"), ("The answer is C.", "C"),
     ("Answer: b", "B"), ("answer: (D)", "D"), ("I think it is a dog.", "C"), ("A dog", "C"),
     ("A", "A"), ("C) a dog", "C"), ("The best answer is: D", "D"), ("I choose (C).", "C"),
     ("It shows a red car and a blue bus", None), ("I am not sure", None), ("", None)],
)  # fmt: skip
def test_parse_letter(reply, letter):
    assert parse_letter(reply, OPTS) == letter


def test_options_and_gold_forms():
    assert normalize_options(["A. cat", "B. dog"]) == ["cat", "dog"]
    assert normalize_options({"B": "dog", "A": "cat"}) == ["cat", "dog"]
    assert answer_letter(1, ["cat", "dog"]) == "B"
    assert answer_letter("B. dog", ["cat", "dog"]) == "B"
    assert answer_letter("Dog", ["cat", "dog"]) == "B"
    with pytest.raises(DataFormatError):
        answer_letter("E", ["cat", "dog"])
