"""LVBench extraction, metric and release layout: the official repository's and lmms-eval's.

Sources:

- official: THUDM/LVBench@f998d95541cd5f0953c52449b185c6467b9b099d
  ``lvbench/utils/answer_util.py`` (``polish_answer``), ``lvbench/metrics/compute_accuracy.py``
  (``compute_accuracy``), ``scripts/download.sh`` + ``scripts/save_video_txt.py`` (the videos, as
  video2dataset ``--output_format files`` leaves them: ``videos/00000/00000000.mp4`` and a
  ``00000000.json`` beside each, numbered in the order of ``video_info.meta.jsonl``; the sidecar's
  ``url`` is ``https://www.youtube.com/watch?v=<key>``). The repository ships no prompt.
- lmms-eval: EvolvingLMMs-Lab/lmms-eval@75571cfe0fa36ca5ec2e6aa2bb268f9d38295af3
  ``lmms_eval/tasks/lvbench/{utils.py,lvbench.yaml}``.

``polish_answer``, quirks included: strip; keep what is before the first ``)``; strip; if a ``(`` is
left keep what follows it; keep the first space-separated token; its FIRST CHARACTER is the answer
(any character: "The answer is B" reads ``T``, "b" reads ``b``, which never equals the gold
capital). ``compute_accuracy``: exact equality with the gold ``answer`` over the questions that have
an answer; a question counts in each of its ``question_type`` entries.

Prompt: none is official; both protocols send the released question text (its options are
embedded as ``(A) ...`` lines) followed by lmms-eval's ``"\\nAnswer the question with the option
letter"`` (lvbench.yaml's ``post_prompt``, no final period).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from vlmctx_eval.tasks.common.mcq_extract import extract_mcq_answer

POST = "\nAnswer the question with the option letter"


def prompt(question: str) -> str:
    """The released question text (options inside) and lmms-eval's instruction line."""
    return question + POST


def polish_answer(answer: str) -> str:
    """``answer_util.polish_answer``: the character the official scorer compares."""
    s = answer.strip().split(")")[0].strip()
    if "(" in s:
        s = s.split("(")[1].strip()
    s = s.split(" ")[0]
    return s[0] if s else s


def lmms_extract(reply: str) -> str:
    return extract_mcq_answer(reply, ("A", "B", "C", "D"))


def extract(reply: str, protocol: str) -> str:
    return polish_answer(reply) if protocol == "official" else lmms_extract(reply)


def accuracy(rows: Iterable[tuple[list[str], str, str]]) -> dict[str, Any]:
    """``compute_accuracy`` from ``(question_types, gold, extracted)`` rows: overall and per
    question type, as fractions (the official script's unit); lmms-eval's mean score is the
    same overall number."""
    right = total = 0
    cat_right: dict[str, int] = defaultdict(int)
    cat_total: dict[str, int] = defaultdict(int)
    for types, gold, got in rows:
        for t in types:
            cat_total[t] += 1
            cat_right[t] += got == gold
        right += got == gold
        total += 1
    per = {k: cat_right[k] / cat_total[k] for k in cat_total}
    return {"acc": right / total if total else None, "per_type": per, "n": total}
