"""Text answer metrics shared by tasks (from the MMLongBench / HELMET / DensePhrases scorers).

SQuAD-style normalization, the text after an ``Answer:`` prefix, token F1, substring exact match
(``sub_em``), ROUGE-L/Lsum maxed over gold answers, and the List-answer parser. The behaviour is the
reference scorers' (benchmark numbers depend on it), kept exactly; MMLongBench's task-specific
scorers stay in ``tasks/mmlongbench/metrics.py``.
"""

from __future__ import annotations

import ast
import json
import re
import string
from collections import Counter
from collections.abc import Callable
from typing import Any

from vlmctx.errors import ConfigError, DataFormatError

_PUNCT = set(string.punctuation)


# ---- normalization -----------------------------------------------------------------------------
def normalize_answer(s: str) -> str:
    """Lower case, drop punctuation and the articles a/an/the, collapse white space."""
    s = "".join(ch for ch in s.lower() if ch not in _PUNCT)
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def normalize_answer_with_punc(s: str) -> str:
    """As :func:`normalize_answer` but punctuation is kept (brackets matter for counts)."""
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", s.lower()).split())


def parse_output(output: str, prefix: str = "Answer:") -> str:
    """The text after the first ``prefix`` (case-insensitive), else the whole output, stripped.

    A repeated leading prefix is removed once more ("Answer: Answer: Paris" -> "Paris").
    """
    m = re.search(f"(?:{prefix})(.*)", output, flags=re.IGNORECASE | re.DOTALL)
    text = (m[1] if m else output).strip()
    return re.sub(f"^{re.escape(prefix)}", "", text, flags=re.IGNORECASE).strip()


def token_f1(prediction: str, ground_truth: str) -> float:
    """SQuAD token F1 between normalized strings."""
    pred = normalize_answer(prediction).split()
    gold = normalize_answer(ground_truth).split()
    same = sum((Counter(pred) & Counter(gold)).values())
    if same == 0:
        return 0.0
    p, r = same / len(pred), same / len(gold)
    return 2 * p * r / (p + r)


def _flatten_golds(answers: Any) -> list[Any]:
    if isinstance(answers, str):
        return [answers]
    answers = list(answers)
    if not answers:
        raise DataFormatError("empty answer list")
    if isinstance(answers[0], list):
        return [a for sub in answers for a in sub]
    return answers


# ---- per-answer metrics -----------------------------------------------------------------------
def sub_em(prediction: str, answers: Any) -> float:
    """1 if some normalized gold answer is a substring of the normalized prediction."""
    pred = normalize_answer(prediction)
    return float(any(normalize_answer(str(g)) in pred for g in _flatten_golds(answers)))


_ROUGE = None


def rouge(prediction: str, answers: Any) -> dict[str, float]:
    """ROUGE-L and ROUGE-Lsum (stemmed) F1 and recall, each maxed over the gold summaries."""
    global _ROUGE
    if _ROUGE is None:
        try:
            from rouge_score import rouge_scorer
        except ImportError as exc:
            raise ConfigError(
                "MMLongBench's ROUGE needs rouge-score: pip install 'vlmctx[eval]'"
            ) from exc

        _ROUGE = rouge_scorer.RougeScorer(["rougeL", "rougeLsum"], use_stemmer=True)
    scores = [_ROUGE.score(target=str(a), prediction=prediction) for a in _flatten_golds(answers)]
    out: dict[str, float] = {}
    for key in ("rougeL", "rougeLsum"):
        out[f"{key}_f1"] = max(s[key].fmeasure for s in scores)
        out[f"{key}_recall"] = max(s[key].recall for s in scores)
    return out


def max_over_parse(
    fn: Callable[[str], dict[str, float]], output: str, prefix: str
) -> dict[str, float]:
    """Score raw output and the text after ``prefix``; keep the max per key (official rule)."""
    raw = fn(output)
    parsed = fn(parse_output(output, prefix))
    return {k: max(v, parsed[k]) for k, v in raw.items()}


def parse_list_answer(gt: Any) -> list[Any]:
    """A List answer: JSON list text (MMLongBench) or Python repr (MMLongBench-Doc source)."""
    if isinstance(gt, list):
        return gt
    try:
        value = json.loads(gt)
    except (json.JSONDecodeError, TypeError):
        try:
            value = ast.literal_eval(str(gt))
        except (ValueError, SyntaxError) as exc:
            raise DataFormatError(f"List answer is not a list: {gt!r}") from exc
    if not isinstance(value, list):
        raise DataFormatError(f"List answer is not a list: {gt!r}")
    return value
