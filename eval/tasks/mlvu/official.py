"""MLVU multiple choice as its authors score it, and as lmms-eval does.

Sources:

- official: JUNJIE99/MLVU@fd060c10a43ea48a35100a22688a927b8e531199
  ``evaluation/multiple_choice_evaluation/choice_bench.py`` (``qa_template``, ``check_ans``, the
  per-task accuracies and their mean "Avg", the conversation template in its comments) and, for
  the one newline the template's comment leaves out, the reference model script
  ``evaluation/models/videochat2/choice_bench.py`` (``question_prompt="\\nOnly give the best
  option."``);
- lmms-eval: EvolvingLMMs-Lab/lmms-eval@75571cfe0fa36ca5ec2e6aa2bb268f9d38295af3
  ``lmms_eval/tasks/mlvu/{utils.py,mlvu_dev.yaml}``.

Official rule (``protocol=official``), quirks included:

1. The gold is ``"(X) answer"`` where X is the letter of the candidate equal to the answer; the
   loop keeps the LAST equal candidate, and when no candidate equals the answer (two records of
   the released ``2_needle.json``) X is ``chr(ord("A") - 1) == "@"``: the question stays in the
   denominator and no sensible reply matches it.
2. ``check_ans``: if the reply contains ``)``, it is replaced by the ONE character before its first
   ``)`` (nothing when ``)`` is the first character); the result must EQUAL the gold letter. No
   stripping, no case folding: ``"A"`` and ``"A) dog"`` and ``"(A)"`` match A; ``" A"``, ``"a)"``,
   ``"A."``, ``"Answer: A"`` do not; ``"I pick B) not A)"`` reads B.
3. Accuracy per task, then "Avg" = the plain mean of the task accuracies (M-Avg).
4. The model is prompted with a system text, the question block + ``"\\nOnly give the best
   option."`` as the user turn, and the assistant turn started with ``"Best Option: ("``; the reply
   scored is what the model writes after that prefix.

lmms-eval (``protocol=lmms-eval``): prompt ``question + "\\nOnly give the best option.\\nBest option:
("`` in the user turn (its HF mirror's ``question`` field holds the options; here the official
``qa_template`` block stands in for it), extraction ``extract_mcq_answer(ABCD)`` against the gold
letter, and the mean over the SEVEN dev task types, where a type with no questions counts 0.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from vlmctx_eval.tasks.common.mcq_extract import extract_mcq_answer

SYSTEM = (
    "Carefully watch this video and pay attention to every detail. Based on your observations, "
    "select the best option that accurately addresses the question."
)
QUESTION_POST = "\nOnly give the best option."
ASSISTANT_PREFIX = "Best Option: ("
DEV_TASK_TYPES = ("anomaly_reco", "count", "ego", "needle", "order", "plotQA", "topic_reasoning")
# choice_bench.py's data_list: task type -> released json file
TASK_FILES = {
    "count": "4_count",
    "ego": "3_ego",
    "needle": "2_needle",
    "order": "5_order",
    "plotQA": "1_plotQA",
    "anomaly_reco": "6_anomaly_reco",
    "topic_reasoning": "7_topic_reasoning",
}


def qa_template(question: str, candidates: list[str], answer: str) -> tuple[str, str]:
    """``MLVU.qa_template``: the question block and the gold ``"(X) answer"`` (quirk 1)."""
    text = f"Question: {question}\nOptions:\n"
    idx = -1
    for i, c in enumerate(candidates):
        text += f"({chr(ord('A') + i)}) {c}\n"
        if c == answer:
            idx = i
    return text.rstrip(), f"({chr(ord('A') + idx)}) {answer}"


def gold_letter(gold: str) -> str:
    """The letter between the gold's first ``(`` and first ``)`` (``"@"`` for quirk 1)."""
    return gold[gold.index("(") + 1 : gold.index(")")]


def official_extract(reply: str) -> str:
    """What ``check_ans`` compares with the gold letter (quirk 2)."""
    if ")" in reply:
        at = reply.index(")")
        return reply[at - 1 : at] if at > 0 else ""
    return reply


def check_ans(reply: str, gold: str) -> bool:
    """``check_ans(pred, gt)`` with ``gt`` the ``"(X) answer"`` string."""
    return official_extract(reply) == gold_letter(gold)


def official_user_text(question_block: str) -> str:
    """The user turn (after the video): the question block and "Only give the best option."."""
    return question_block + QUESTION_POST


def lmms_user_text(question_block: str) -> str:
    """lmms-eval's ``mlvu_doc_to_text`` with the default kwargs."""
    return question_block + "\nOnly give the best option.\nBest option: ("


def lmms_extract(reply: str) -> str:
    return extract_mcq_answer(reply, ("A", "B", "C", "D"))


def extract(reply: str, protocol: str) -> str:
    return official_extract(reply) if protocol == "official" else lmms_extract(reply)


def m_avg(rows: Iterable[tuple[str, bool]], protocol: str = "official") -> dict[str, Any]:
    """Per-task accuracy (%) and their mean from ``(task_type, correct)`` rows. ``official``:
    the mean over the task types present (choice_bench.py's ``acc_dict``); ``lmms-eval``: the
    mean over the seven dev task types, an absent one counting 0."""
    acc: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for task, ok in rows:
        acc[task][0] += int(ok)
        acc[task][1] += 1
    per = {k: 100.0 * v[0] / v[1] for k, v in acc.items()}
    if protocol == "official":
        avg = sum(per.values()) / len(per) if per else 0.0
    else:
        avg = sum(per.get(t, 0.0) for t in DEV_TASK_TYPES) / len(DEV_TASK_TYPES)
    return {"avg": avg, "per_task": per, "counts": {k: v[1] for k, v in acc.items()}}


# ---- generation tasks: the judge reply's scores (calculate.py / calculate_sum.py) --------------
SSC_KEYS = ("score_accuracy", "score_relevance")  # generation_evaluation/calculate.py
VS_KEYS = ("score_completeness", "score_reliability")  # generation_evaluation/calculate_sum.py


def official_judge_scores(text: str, keys: tuple[str, str]) -> list[float]:
    """``extract_scores`` of MLVU@fd060c1 ``evaluation/generation_evaluation/calculate.py`` (and
    ``calculate_sum.py``, the same code with other keys): for each key found (its FIRST
    occurrence, skipped when absent), the text from two characters after the next ``:`` up to the
    next ``,``, read as a float. A slice that is no number raises ``ValueError`` (the official
    script stops there; the caller reports the answer as a scoring error)."""
    scores = []
    for key in keys:
        start = text.find(key)
        if start == -1:
            continue
        begin = text.find(":", start) + 2
        end = text.find(",", begin)
        scores.append(float(text[begin:end]))
    return scores


def official_judge_pair(scores: list[float]) -> tuple[float, float]:
    """What ``calculate.py`` adds for one answer: ``(scores[0], scores[1])``; when the second is
    missing the first is still added and the second counts 0 (its ``try`` adds ``scores[0]``
    before ``scores[1]`` fails); no score at all counts 0 + 0. Every answer stays in the
    denominator; the task score is the SUM of the two means."""
    first = scores[0] if scores else 0.0
    second = scores[1] if len(scores) > 1 else 0.0
    return first, second
