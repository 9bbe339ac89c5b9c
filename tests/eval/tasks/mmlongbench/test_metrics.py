"""MMLongBench metrics against hand-computed values, including the awkward cases."""

from __future__ import annotations

import pytest

from vlmctx.errors import DataFormatError
from vlmctx_eval.tasks.common import text_metrics as TM
from vlmctx_eval.tasks.mmlongbench import metrics as M


@pytest.mark.parametrize(
    "pred,gold,default,expected",
    [
        ("Answer: Yes, there is.", "Yes", 0, 1.0),
        ("No... wait, yes.", "Yes", 0, 1.0),  # the last yes/no wins
        ("I cannot tell", "No", 0, 1.0),  # unparseable -> default 0 = no
        ("I cannot tell", "No", 1, 0.0),
        ("2", "Yes", 1, 0.0),  # digits are a label, not a default
        ("yesterday", "No", 0, 1.0),  # no whole-word yes -> default
    ],
)
def test_binary_acc_with_default(pred, gold, default, expected):
    assert M.binary_acc(pred, gold, default) == expected


def test_default_cycle_is_official():
    assert M.DEFAULT_ANSWER_CYCLE == (0, 1, 1, 0)


@pytest.mark.parametrize(
    "pred,gold,expected",
    [
        ("Answer: [1, 1, 1]", [2, 0, 1], 1.0),  # sums are compared, not lists
        ("[3, 1] then [2, 2]", [4], 1.0),  # the last list
        ("There are 2 cats and 3 dogs", [5], 1.0),  # every integer when no list
        ('["3", 2]', [5], 1.0),  # quoted ints in a bracketed list
        ("[a, 2] and 7", [9], 1.0),  # "[ , 2]" is no JSON list -> every integer: 2 + 7
        ("Answer: [2]", [3], 0.0),
    ],
)
def test_soft_acc(pred, gold, expected):
    assert M.soft_acc(pred, gold) == expected


def test_choice_letter_quirks():
    assert M.extract_choice_letter("The answer is (C)") == 2
    assert M.extract_choice_letter("Answer: B because") == 1
    assert M.extract_choice_letter("I think D") == 3  # last standalone capital
    assert M.extract_choice_letter("I think so") == 8  # the pronoun I counts (official quirk)
    assert M.extract_choice_letter("none") == -1
    assert M.mc_acc("Answer: B", 1) == 1.0


def test_class_num():
    assert M.extract_class_num("label: 12") == 12
    assert M.extract_class_num("It is 3 or 7") == 7
    assert M.extract_class_num("abc123def") == 123
    assert M.extract_class_num("none") == -1
    assert M.cls_acc("Label:  4", 4) == 1.0


@pytest.mark.parametrize(
    "pred,gold,fmt,expected",
    [
        ("There are 1,234 kg", "1,234", "Integer", 1.0),  # commas and units
        ("5.5", "5", "Integer", 0.0),  # non-integers never match an Integer
        ("about 12 or 5", "5", "Int", 1.0),  # any extracted integer; source's "Int"
        ("0.1829", "18.29%", "Float", 1.0),  # fraction vs percent
        ("50%", "0.5", "Float", 1.0),  # percent vs fraction the other way
        ("18.3", "18.29", "Float", 1.0),  # within 1 %
        ("20", "18.29", "Float", 0.0),
        ("$3.5 million", "3.5 million", "Float", 1.0),
        ("less well off", "Less well-off", "String", 0.4),  # token F1: 2*(1/3*1/2)/(1/3+1/2)
        ("Not answerable.", "Not answerable", "None", 1.0),
        ("See https://x.org/a.", "https://x.org/a", "Str", 1.0),  # exact-match pattern
        ("May 1, 2018", "2018-05-01", "String", 0.0),  # dates need exact match
        ("black and white", '["black", "white"]', "List", 0.8),  # merged strings, F1 2/3,1
        ("White people, 10%", "['White', '10%']", "List", 0.75),  # Python repr; (0.5 + 1) / 2
        ("3 and 4.5", [3, 4.5], "List", 1.0),
    ],
)
def test_doc_qa(pred, gold, fmt, expected):
    assert M.doc_qa(pred, gold, fmt) == pytest.approx(expected)


def test_doc_qa_bad_inputs():
    with pytest.raises(DataFormatError):
        M.doc_qa("x", "1", "Currency")
    with pytest.raises(DataFormatError):
        M.doc_qa("x", "not a list", "List")
    with pytest.raises(DataFormatError):
        M.doc_qa("x", "1.5", "Integer")


def test_max_over_parse_takes_the_better_reading():
    fn = lambda p: {"cls_acc": M.cls_acc(p, 3)}  # noqa: E731
    # "label: 3" wins on the raw text; in the second, raw gives 7 and parsed "7" gives 7: wrong
    assert TM.max_over_parse(fn, "label: 3, not 5", "label:")["cls_acc"] == 1.0
    assert TM.max_over_parse(fn, "maybe 3 label: 7", "label:")["cls_acc"] == 0.0
