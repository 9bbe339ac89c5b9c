"""Video-MME as its authors score it, and as lmms-eval does: prompts, extraction, metrics.

Sources (each port below cites the one it follows):

- prompt: MME-Benchmarks/Video-MME@06c2315b892f88578f81d73205d07cf576f292b9 ``README.md``
  ("Prompt" and its two examples); results format: ``evaluation/output_test_template.json``;
- extraction and metric: thanku-all/parse_answer@afd52cfe3dde5b3685e0d4f760c10c756860c758
  ``eval_your_results.py`` (the script the Video-MME README links), ``extract_characters_regex``
  and ``eval_your_results``;
- lmms-eval: EvolvingLMMs-Lab/lmms-eval@75571cfe0fa36ca5ec2e6aa2bb268f9d38295af3
  ``lmms_eval/tasks/videomme/{utils.py,videomme.yaml,videomme_w_subtitle.yaml}``.

Official quirks reproduced (``protocol=official``):

1. The answer-prefix list misses two commas, so Python joins ``"The best option is"
   "The correct option is"`` and ``"Best answer:" "Best option:"`` into one string each: neither
   "The best option is" nor "Best answer:" alone is removed. "Best answer: C" therefore reads
   ``B`` (the capital B of "Best").
2. Prefixes are removed case-sensitively, everywhere in the reply (``str.replace``), in list order.
3. After removal, a reply of more than 10 words without any of ``ABCD`` is no answer; otherwise the
   first capital ``A``-``D`` anywhere (inside words too: "Dogs" reads ``D``) is the answer.
4. The metric divides by the ANSWERED questions: a reply with no extractable letter is left out of
   the denominator (and of every per-category count), not counted wrong.

lmms-eval (``protocol=lmms-eval``): the shared ``extract_mcq_answer`` (see
:mod:`vlmctx_eval.tasks.common.mcq_extract`), every question in the denominator (an unparsed reply
is wrong), and its prompts: note that its no-subtitle prompt still says "based on the video and
the subtitles" and ends with ``\\n\\nAnswer with the option's letter from the given choices
directly.`` (the default ``post_prompt`` appended after a newline).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from vlmctx_eval.tasks.common.mcq_extract import extract_mcq_answer

# ---- official prompt (Video-MME README @06c2315b) ------------------------------------------------
INSTRUCTION = (
    "Select the best answer to the following multiple-choice question based on the video. "
    "Respond with only the letter (A, B, C, or D) of the correct option."
)
SUBTITLE_HEADER = "This video's subtitles are listed below:"
POST = "The best answer is:"


def official_prompt(question: str, options: list[str], subtitles: str | None = None) -> str:
    """The README's prompt: [subtitle header + subtitles], instruction, question, the options as
    released ("A. ..."), "The best answer is:". ``subtitles=None`` is the subtitle-free setting
    ("you should remove the subtitle content")."""
    body = [INSTRUCTION, question, *options, POST]
    if subtitles is not None:
        body = [SUBTITLE_HEADER, subtitles, *body]
    return "\n".join(body)


# ---- official extraction (parse_answer@afd52cf eval_your_results.py) ----------------------------
OFFICIAL_PREFIXES = (
    "The best answer is",
    "The correct answer is",
    "The answer is",
    "The answer",
    "The best option isThe correct option is",  # quirk 1: missing comma in the official list
    "Best answer:Best option:",  # quirk 1: idem
    "Answer:",
    "Option:",
    "The correct answer",
    "The correct option",
)


def official_extract(reply: str) -> str:
    """``extract_characters_regex``: the letter, or ``""`` when the official script finds none."""
    s = reply.strip()
    for prefix in OFFICIAL_PREFIXES:
        s = s.replace(prefix, "")
    found = re.search("[ABCD]", s)
    if found is None:  # (the "> 10 words" test only matters when no letter is there either)
        return ""
    return found[0]


# ---- metrics -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Scored:
    """One question's inputs to the metric: its groups, gold letter and extracted letter."""

    duration: str
    domain: str
    sub_category: str
    task_type: str
    answer: str
    extracted: str


def _pct(c: dict[str, list[int]]) -> dict[str, float]:
    return {k: 100.0 * v[0] / v[1] if v[1] else 0.0 for k, v in c.items()}


def accuracy(rows: Iterable[Scored], protocol: str = "official") -> dict[str, Any]:
    """Overall and per-group accuracy (%). ``official``: only answered questions count (quirk 4);
    ``lmms-eval``: every question counts, ``pred == answer`` (case-sensitive, as its aggregation).
    A group without counted questions reads 0.0, as both scripts print it."""
    groups: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    total = [0, 0]
    n = unparsed = 0
    for r in rows:
        n += 1
        unparsed += r.extracted == ""
        if protocol == "official" and r.extracted == "":
            continue
        ok = int(r.extracted == r.answer)
        for name, key in (
            ("duration", r.duration),
            ("domain", r.domain),
            ("sub_category", r.sub_category),
            ("task_type", r.task_type),
        ):
            groups[name][key][0] += ok
            groups[name][key][1] += 1
        total[0] += ok
        total[1] += 1
    return {
        "overall": 100.0 * total[0] / total[1] if total[1] else 0.0,
        "counted": total[1],
        "correct": total[0],
        "questions": n,
        "unparsed": unparsed,
        **{f"by_{g}": _pct(c) for g, c in groups.items()},
    }


# ---- lmms-eval (lmms-eval@75571cf tasks/videomme) -----------------------------------------------
LMMS_INSTRUCTION = (
    "Select the best answer to the following multiple-choice question based on the video and the "
    "subtitles. Respond with only the letter (A, B, C, or D) of the correct option."
)
LMMS_POST = "\nAnswer with the option's letter from the given choices directly."
LMMS_SUBTITLE_HEADER = "This video's subtitles are listed below: \n"


def lmms_prompt(question: str, options: list[str]) -> str:
    """``videomme_doc_to_text`` with the default kwargs (the subtitle-free task ``videomme``)."""
    q = question + "\n" + "\n".join(options)
    return LMMS_INSTRUCTION + "\n" + q + "\n" + LMMS_POST


def lmms_subtitle_question(question: str, options: list[str]) -> str:
    """What follows the subtitle lines in ``videomme_doc_to_text_subtitle``: the (subtitle)
    instruction, question, options, "The best answer is:"."""
    return LMMS_INSTRUCTION + "\n" + question + "\n" + "\n".join(options) + "\n" + POST


def lmms_subtitle_prompt(question: str, options: list[str], subtitles: str | None) -> str:
    """``videomme_doc_to_text_subtitle``: header, the subtitle lines (or "No subtitles
    available"), then :func:`lmms_subtitle_question`."""
    text = subtitles if subtitles else "No subtitles available"
    return LMMS_SUBTITLE_HEADER + text + "\n" + lmms_subtitle_question(question, options)


def lmms_extract(reply: str) -> str:
    """lmms-eval's ``extract_characters_regex``: ``extract_mcq_answer(s, choices=ABCD)``."""
    return extract_mcq_answer(reply, ("A", "B", "C", "D"))


def extract(reply: str, protocol: str) -> str:
    """The letter by ``protocol`` (``official`` or ``lmms-eval``); ``""`` is no answer."""
    return official_extract(reply) if protocol == "official" else lmms_extract(reply)


# ---- the released results template (output_test_template.json) ---------------------------------
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")


def loads_template(text: str) -> Any:
    """The official results template as JSON: it is not strict JSON (a trailing comma after each
    question's ``"response"``), so commas before ``}``/``]`` outside strings are dropped first."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    out, i, in_str = [], 0, False
    while i < len(text):
        ch = text[i]
        if in_str:
            out.append(ch)
            if ch == "\\" and i + 1 < len(text):
                out.append(text[i + 1])
                i += 1
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
            out.append(ch)
        elif ch == "," and _TRAILING_COMMA.match(text, i):
            pass
        else:
            out.append(ch)
        i += 1
    return json.loads("".join(out))


def results_file(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The official results format (``output_test_template.json``'s shape, strict JSON) from
    question records that carry the release's fields and a ``response``: one object per video,
    in first-appearance order, with its ``questions``; what ``eval_your_results.py`` reads."""
    videos: dict[str, dict[str, Any]] = {}
    for r in records:
        key = str(r["video_id"])
        v = videos.setdefault(
            key,
            {
                "video_id": key,
                "duration": r["duration"],
                "domain": r["domain"],
                "sub_category": r["sub_category"],
                "questions": [],
            },
        )
        v["questions"].append(
            {
                k: r[k]
                for k in ("question_id", "task_type", "question", "options", "answer", "response")
            }
        )
    return list(videos.values())
