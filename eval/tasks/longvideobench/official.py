"""LongVideoBench prompts, extraction and metric: the official dataloader's and lmms-eval's.

Sources:

- official: longvideobench/LongVideoBench@fc3c553250cfee6853a722f9b181f1b69f478426
  ``longvideobench/longvideobench_dataset.py`` (``LongVideoBenchDataset.__getitem__``: the inputs
  list ``[frames/subtitles..., "Question: " + question, "A. candidate", ...,
  "Answer with the option's letter from the given choices directly."]``). The repository ships NO
  answer extraction and NO metric; its README sends automatic evaluation to lmms-eval. So
  ``protocol=official`` here is the official prompt with lmms-eval's extraction and metric, and
  the default protocol is ``lmms-eval`` (said so in docs/eval.md).
- lmms-eval: EvolvingLMMs-Lab/lmms-eval@75571cfe0fa36ca5ec2e6aa2bb268f9d38295af3
  ``lmms_eval/tasks/longvideobench/{utils.py,longvideobench_val_v.yaml}``:
  ``longvideobench_doc_to_text`` (question, ``"A. candidate"`` lines, post prompt
  ``"Answer with the option's letter from the given choices directly.\\n"``),
  ``parse_multi_choice_response`` (rewritten by the LVB author, Nov 2024) and
  ``longvideobench_aggregate_results``.

lmms-eval's parser, quirks included: the eight answer prefixes (with their commas) are removed
case-sensitively everywhere; the first capital ``A``-``E`` anywhere in what is left is the answer
(even when the question has four candidates, and inside words: "Dogs" reads D); when there is none,
a RANDOM choice among the candidates is the answer (``random.choice``). Here the random choice
uses a generator seeded with the sample's id, so a rerun scores the same (lmms-eval draws from
the process-wide generator). The metric is the instance-level accuracy over duration groups and
question categories, which equals the plain accuracy (every question counts twice).
"""

from __future__ import annotations

import random
import re

POST = "Answer with the option's letter from the given choices directly."
PREFIXES = (
    "The best answer is",
    "The correct answer is",
    "The answer is",
    "The answer",
    "The best option is",
    "The correct option is",
    "Best answer:",
    "Best option:",
)


def official_prompt(question: str, candidates: list[str]) -> str:
    """The dataloader's text inputs after the frames, one per line."""
    options = [". ".join([chr(ord("A") + i), c]) for i, c in enumerate(candidates)]
    return "\n".join(["Question: " + question, *options, POST])


def lmms_prompt(question: str, candidates: list[str]) -> str:
    """``longvideobench_doc_to_text`` without interleaved subtitles (``pre_prompt`` empty)."""
    options = "\n".join(". ".join([chr(ord("A") + i), c]) for i, c in enumerate(candidates))
    return f"{question}\n{options}\n{POST}\n"


def lmms_extract(reply: str) -> str:
    """The letter lmms-eval reads, or ``""`` where it would draw a random candidate."""
    s = reply.strip()
    for prefix in PREFIXES:
        s = s.replace(prefix, "")
    found = re.search(r"[ABCDE]", s)  # (its "> 10 words" test only applies when none is found)
    return found[0] if found else ""


def lmms_parse(reply: str, n_candidates: int, seed: str) -> tuple[str, bool]:
    """``(letter, drawn)``: lmms-eval's parse, with its random fallback drawn from a generator
    seeded by ``seed`` (the sample id); ``drawn`` says the letter was drawn."""
    letter = lmms_extract(reply)
    if letter:
        return letter, False
    choices = [chr(ord("A") + i) for i in range(n_candidates)]
    return random.Random(seed).choice(choices), True
