"""MMLongBench metrics with the official semantics (arXiv 2505.10610, EdinburghNLP/MMLongBench).

Each function reproduces the behaviour of the reference scorer (itself adapted from DensePhrases
and HELMET): SQuAD-style normalization, substring exact match (``sub_em``), yes/no accuracy with a
default-answer cycle (``binary_acc``), counting by list sum (``soft_acc``), choice letters
(``mc_acc``), class labels (``cls_acc``), ROUGE-L/Lsum and the rule-based document-QA score
(``doc_qa``). The behaviour (which regex wins, what is normalized, which value is maxed) is what the
paper's numbers depend on, so it is kept exactly, including its quirks: ``soft_acc`` compares the
*sums* of the count lists, ``mc_acc`` takes the last standalone capital A-J, and ``binary_acc``
replaces an unparseable answer by the next value of the cycle ``[0, 1, 1, 0]``.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from collections.abc import Sequence
from typing import Any

from vlmctx.errors import DataFormatError
from vlmctx_eval.tasks.common.text_metrics import (
    normalize_answer_with_punc,
    parse_list_answer,
    token_f1,
)

DEFAULT_ANSWER_CYCLE = (0, 1, 1, 0)


# ---- per-answer metrics ------------------------------------------------------------------------
def extract_binary_label(text: str) -> int:
    """Last yes/no word -> 1/0; an all-digit answer -> int; otherwise -1."""
    text = normalize_answer_with_punc(text)
    m = re.search(r"\b(?:yes|no)\b(?!.*\b(?:yes|no)\b)", text, re.IGNORECASE | re.DOTALL)
    if m:
        return {"yes": 1, "no": 0}[m.group(0)]
    if text.strip().isdigit():
        return int(text.strip())
    return -1


def binary_acc(prediction: str, answer: Any, default_answer: int) -> float:
    """Yes/no accuracy; an unparseable prediction takes ``default_answer`` (see the cycle)."""
    label = extract_binary_label(prediction)
    if label == -1:
        label = default_answer
    gold = answer[0] if isinstance(answer, list) and answer else answer
    return float(label == extract_binary_label(str(gold)))


def _int_items(items: Any) -> list[int]:
    out = []
    for item in items if isinstance(items, list) else []:
        with contextlib.suppress(TypeError, ValueError, OverflowError):
            out.append(int(item))
    return out


def extract_cnt_list(prediction: str) -> list[int]:
    """The last ``[1, 2, 3]`` list; else the last bracketed list's ints; else every integer."""
    text = normalize_answer_with_punc(prediction)
    match = re.findall(r"\[[\d\s,]+\]", text, re.IGNORECASE | re.DOTALL)
    if match:
        try:
            return _int_items(json.loads(match[-1]))
        except json.JSONDecodeError:
            pass
    match = re.findall(r"\[.*?\]", text, re.IGNORECASE | re.DOTALL)
    if match:
        try:
            return _int_items(json.loads(match[-1]))
        except json.JSONDecodeError:
            pass
    return [int(x) for x in re.findall(r"\d+", text)]


def soft_acc(prediction: str, answer: Sequence[int]) -> float:
    """Counting: correct when the predicted counts sum to the gold counts' sum (official rule)."""
    return float(sum(extract_cnt_list(prediction)) == sum(int(a) for a in answer))


def extract_choice_letter(prediction: str) -> int:
    """'answer is (C)' / 'Answer: C' / the last standalone capital A-J -> 0-based index, or -1."""
    text = " ".join(prediction.split())
    for pattern in (r"answer is \(?([A-J])\)?", r"[aA]nswer:\s*([A-J])"):
        m = re.search(pattern, text)
        if m:
            return ord(m.group(1)) - ord("A")
    m = re.search(r"\b[A-J]\b(?!.*\b[A-J]\b)", text, re.DOTALL)
    return ord(m.group(0)) - ord("A") if m else -1


def mc_acc(prediction: str, answer: int) -> float:
    return float(extract_choice_letter(prediction) == int(answer))


def extract_class_num(prediction: str) -> int:
    """'label: 7' -> 7; else the last standalone number; else the first digits; else -1."""
    text = " ".join(prediction.split())
    m = re.search(r"label:\s*(\d+)", text, re.IGNORECASE)
    if m:
        return int(m.group(1))
    m = re.search(r"\b(\d+)\b(?!.*\b\d+\b)", text)
    if m:
        return int(m.group(1))
    nums = re.findall(r"\d+", text)
    return int(nums[0]) if nums else -1


def cls_acc(prediction: str, answer: int) -> float:
    return float(extract_class_num(prediction) == int(answer))


# ---- document QA (rule based) ------------------------------------------------------------------
_UNIT_SUFFIXES = ("kg", "meters", "acres", "minutes", "miles", "mile", "feet", "million")
_UNIT_SUFFIXES += ("thousand", "billion", "mm", "m")
_EXACT_PATTERNS = (
    r"https://",
    r".*\.(py|ipynb)$",
    r"^page",
    r"^\d+(-\d+|\s\d+)?$",
    r"(a\.m\.|p\.m\.)",
    r"^\d{4}[-/\s]\d{1,2}[-/\s]\d{1,2}$",
    r"^\d{1,2}[-/\s]\d{1,2}[-/\s]\d{2,4}$",
    r"^\d{4}[-/\s]\d{1,2}$",
    r"^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\.[a-zA-Z]{2,}$",
)
ANSWER_FORMATS = {"Integer": "Integer", "Int": "Integer", "Float": "Float", "String": "String"}
ANSWER_FORMATS |= {"Str": "String", "List": "List", "None": "None"}


def docqa_clean(s: Any) -> str:
    """Lower, drop commas, strip one trailing unit of each kind, edge quotes, then $ £ %."""
    s = str(s).lower().strip().replace(",", "")
    for suffix in _UNIT_SUFFIXES:
        s = re.sub(re.escape(suffix) + r"$", "", s).strip()
    s = re.sub(r"^['\"]|['\"]$", "", s).strip()
    for ch in "$£%":
        s = s.strip().strip(ch).strip()
    return s


def need_exact_match(s: str) -> bool:
    """URLs, file names, page refs, number ranges, times, dates and e-mails need exact match."""
    return any(re.search(p, s) for p in _EXACT_PATTERNS)


def extract_numbers(pred: str) -> list[float]:
    out = []
    for m in re.findall(r"(-?\d+(\.\d*)?|-?\.\d+)", pred.replace(",", "")):
        num = float(m[0])
        if math.isfinite(num):
            out.append(num)
    return out


def str_type(s: str) -> str:
    """'12' -> Integer, '12.5' or '12%' -> Float, anything else -> String."""
    try:
        num = float(docqa_clean(s))
        return "Integer" if num == int(num) and "%" not in s else "Float"
    except (ValueError, OverflowError):
        return "String"


def doc_qa(pred: str, gt: Any, answer_format: str) -> float:
    """Rule-based DocVQA score (LongDocURL/MMLongBench-Doc style), in [0, 1]."""
    fmt = ANSWER_FORMATS.get(str(answer_format))
    if fmt is None:
        raise DataFormatError(f"unknown answer_format {answer_format!r}")
    if fmt == "Integer":
        gold = float(docqa_clean(gt))
        if gold != int(gold):
            raise DataFormatError(f"Integer answer {gt!r} is not an integer")
        nums = [int(n) for n in extract_numbers(docqa_clean(pred)) if int(n) == n]
        return float(int(gold) in nums)
    if fmt == "Float":
        gold = float(docqa_clean(gt))
        cands = (gold / 100, gold, gold * 100)
        nums = extract_numbers(docqa_clean(pred))
        return float(any(math.isclose(c, n, rel_tol=0.01) for n in nums for c in cands))
    if fmt in ("String", "None"):
        gt = str(gt)
        return float(gt in pred) if need_exact_match(gt) else token_f1(pred, gt)
    return _doc_qa_list(pred, parse_list_answer(gt))


def _doc_qa_list(pred: str, golds: list[Any]) -> float:
    # plain-string items that need no exact match are merged into one string (for recall)
    merge = [
        isinstance(g, str) and str_type(g) == "String" and not need_exact_match(g) for g in golds
    ]
    merged = " ".join(g for g, m in zip(golds, merge, strict=True) if m).strip()
    if merged:
        golds = [merged] + [g for g, m in zip(golds, merge, strict=True) if not m]
    scores = []
    for g in golds:
        if isinstance(g, (list, dict)):
            raise DataFormatError(f"nested item {g!r} in a List answer")
        if isinstance(g, bool) or not isinstance(g, (int, float)):
            fmt = str_type(str(g))
        else:
            fmt = "Integer" if isinstance(g, int) else "Float"
        scores.append(doc_qa(pred, g, fmt))
    return sum(scores) / len(golds)
