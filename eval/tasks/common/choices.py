"""Prompt building and answer-letter parsing for long-video multiple-choice QA.

The prompt follows the Video-MME / LongVideoBench convention used by lmms-eval (arXiv 2405.21075,
2407.15754): question, lettered options, "Respond with only the letter". Models still answer in
many shapes ("B", "(B)", "B. a cat", "The answer is B.", "Answer: b", the option's text), so the
parser tries explicit forms first and falls back to a unique option-text match; anything ambiguous
is ``None`` (scored wrong, and counted as unparsed so a formatting problem is visible).
"""

from __future__ import annotations

import re
from typing import Any

from vlmctx.errors import DataFormatError

LETTERS = "ABCDEFGHIJ"
_PREFIX = re.compile(r"^\s*\(?([A-J])[.):]\s+")


def normalize_options(options: Any) -> list[str]:
    """Option texts without their ``A.`` prefixes, from a list or a ``{letter: text}`` mapping."""
    if isinstance(options, dict):
        options = [options[k] for k in sorted(options)]
    if not isinstance(options, list) or not 2 <= len(options) <= len(LETTERS):
        raise DataFormatError(f"options must be a list of 2-10 strings, got {options!r}")
    out = []
    for i, opt in enumerate(options):
        text = str(opt)
        m = _PREFIX.match(text)
        if m and m.group(1) == LETTERS[i]:
            text = text[m.end() :]
        out.append(text.strip())
    return out


def answer_letter(answer: Any, options: list[str]) -> str:
    """The gold letter from a letter, an index, "B. text" or the option's text."""
    if isinstance(answer, bool):
        raise DataFormatError(f"answer {answer!r} is not a letter, index or option")
    if isinstance(answer, int):
        if 0 <= answer < len(options):
            return LETTERS[answer]
        raise DataFormatError(f"answer index {answer} out of range for {len(options)} options")
    text = str(answer).strip()
    m = re.fullmatch(r"\(?([A-J])\)?(?:[.):]\s*.*)?", text, re.DOTALL)
    if m and LETTERS.index(m.group(1)) < len(options):
        return m.group(1)
    low = [o.lower() for o in options]
    if text.lower() in low:
        return LETTERS[low.index(text.lower())]
    raise DataFormatError(f"answer {answer!r} matches no option letter or text")


def build_prompt(question: str, options: list[str]) -> str:
    letters = ", ".join(LETTERS[: len(options)])
    lines = [
        "Select the best answer to the following multiple-choice question based on the video. "
        f"Respond with only the letter ({letters}) of the correct option.",
        question.strip(),
        *[f"{LETTERS[i]}. {opt}" for i, opt in enumerate(options)],
        "The best answer is:",
    ]
    return "\n".join(lines)


def parse_letter(text: str, options: list[str]) -> str | None:
    """The chosen option letter, or ``None`` when the reply names none or several."""
    valid = LETTERS[: len(options)]
    t = " ".join(str(text).split())
    if not t:
        return None
    explicit = (
        rf"(?:answer|option|choice)\s*(?:is|:)?\s*:?\s*\(?([{valid}])\)?(?![A-Za-z])",
        rf"^\(?([{valid}])\)?(?:$|[.):,])",
        rf"^\(?([{valid.lower()}])\)?(?:$|[.):])",
    )
    for pattern in explicit:
        m = re.search(pattern, t, re.IGNORECASE if "answer" in pattern else 0)
        if m:
            return m.group(1).upper()
    low = t.lower()
    hits = {LETTERS[i] for i, o in enumerate(options) if o and o.lower() in low}
    if len(hits) == 1:  # the option's text, before "A dog" could read as letter A
        return hits.pop()
    m = re.match(rf"\(?([{valid}])\)?\s", t)
    if m:
        return m.group(1)
    marked = set(re.findall(rf"(?<![A-Za-z])\(?([{valid}])[.)](?!\w)", t))
    if len(marked) == 1:
        return marked.pop()
    bare = set(re.findall(rf"\b([{valid}])\b", t)) - {"A", "I"}  # articles/pronouns are ambiguous
    return bare.pop() if len(bare) == 1 else None
