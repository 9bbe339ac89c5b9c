"""Generative corpora of model replies for the benchmark-fidelity tests (issue 26).

Replies are assembled from parts (a lead-in, a body naming one or several letters in a given
format and casing, a tail) so that the corpus covers what models write: bare letters, ``(B)``,
``B)``, ``B.``, ``B. option text``, answer phrases (the benchmarks' own prefix lists among them),
several letters, reasoning text, Markdown, lower case, full-width and other unicode, empty and
whitespace-only replies, long replies without a letter. Deterministic (fixed seed).
"""

from __future__ import annotations

import itertools
import random
from typing import Any

LEADS = (
    "",
    " ",
    "Sure. ",
    "After watching the video, ",
    "Based on the frames, I think ",
    "Let me think step by step. The man enters the room. Then he sits down.\n",
    "好的，",
    "Hmm… ",
    "**Answer**: ",
    "Best answer: ",
    "Best Answer: ",
    "The best answer is ",
    "The best answer is: ",
    "The answer is ",
    "The answer ",
    "Answer: ",
    "answer: ",
    "Option: ",
    "The correct option is ",
    "The best option is ",
    "Best option: ",
    "Best Option: (",
    "I choose ",
    "My answer is ",
    "答案是",
    "The correct answer ",
    "Final Answer: ",
    "the correct answer is ",
    "In the video a Dog runs. ",
    "Choice: ",
    "I pick ",
)
BODIES = (
    "{L}",
    "{l}",
    "({L})",
    "({l})",
    "{L})",
    "{l})",
    "{L}.",
    "{L}:",
    "{L}. {T}",
    "({L}) {T}",
    "{L}) {T}",
    "{l}. {T}",
    "Option {L}",
    "option {l}",
    "**{L}**",
    "**{L}. {T}**",
    "{T}",
    "{L} and {M}",
    "{L} or {M}",
    "({L}) or ({M})",
    "{F}",
    "{L}, because {T} is shown",
    "not {M}, it is {L}",
    "",
    "{L}{M}",
    "{L}/{M}",
    "[{L}]",
    "'{L}'",
    '"{L}"',
    "{L} - {T}",
    "{M}) is wrong; {L}) is right",
    "{L}\n{M}",
)
TAILS = (
    "",
    ".",
    "\n",
    " because the video shows it.",
    "\nExplanation: Dogs appear at the end.",
    " 🙂",
    "!",
    " (confidence: high)",
    ")",
    "\n\nThe other options do not match.",
)
TEXTS = (
    "a red car",
    "Black.",
    "The man in the hat",
    "Dogs",
    "none of the above",
    "Café au lait",
    "2",
    "In a kitchen",
)
FULLWIDTH = {"A": "Ａ", "B": "Ｂ", "C": "Ｃ", "D": "Ｄ", "E": "Ｅ"}
EXTRA = (
    "",
    "   ",
    "\n",
    "I don't know.",
    "I cannot tell from the video.",
    "The video does not show enough information to decide between the options that are given here.",
    "the person is putting on shoes while talking on the phone near the door of the room",
    "None",
    "N/A",
    "ABCD",
    "(",
    ")",
    "()",
    "(E)",
    "E",
    "Z",
    "1",
    "2)",
    "选C",
    "答えはB",
    "정답은 D",
    "The answer is (b).",
    "THE ANSWER IS D",
    "Best answer:B",
    "Best answer:Best option: C",
    "The best option isThe correct option is A",
    "Answer:D",
    "(A",
    "A)B)C)",
    ")A",
    " A",
    "a",
)


def mcq_replies(letters: str = "ABCD", n: int = 2400, seed: int = 0) -> list[str]:
    """``n`` distinct replies (plus the fixed extras) over the given option letters."""
    rng = random.Random(seed)
    combos = list(itertools.product(LEADS, BODIES, TAILS, letters, range(len(TEXTS))))
    rng.shuffle(combos)
    out: dict[str, None] = dict.fromkeys(EXTRA)
    for lead, body, tail, letter, t in combos:
        other = letters[(letters.index(letter) + 1 + t) % len(letters)]
        text = body.format(
            L=letter, l=letter.lower(), M=other, T=TEXTS[t], F=FULLWIDTH.get(letter, letter)
        )
        out.setdefault(lead + text + tail)
        if len(out) >= n:
            break
    return list(out)


# ---- temporal grounding (Charades-STA) ----------------------------------------------------------
TIME_FORMS = (
    "{a} - {b}",
    "{a}-{b} seconds",
    "from {a} to {b}",
    "The event happens in the {a} - {b} seconds.",
    "The event starts at {a}s and ends at {b}s.",
    "{ca} - {cb}",
    "{ca} to {cb}",
    "{ha} - {hb}",
    "{a}s–{b}s",
    "{b} - {a}",
    "It happens at {a} seconds.",
    "The person is cooking.",
    "In the 3 people scene, it starts at {a} and ends at {b}.",
    "Start time: {a}\nEnd time: {b}",
    "Is it {a} - {b}? Yes! The event happens in {a} - {b}.",
    "The tomato is cut from {a} to {b}.",
    "A specific example is : 20.8 - 30.0 seconds. Here: {a} - {b}",
    "{a}s - {b}s",
    "[{a}, {b}]",
    "({a}, {b})",
    "start: {ca}, end: {cb}",
    "{a} to {b} seconds, not {c} to {d}",
    "Between {ca} and {cb}.",
    "The event happens in {ha} – {hb}",
    "{a}-{b}-{c}",
    "",
    "The action happens from second {a} until second {b}.",
    "Ends at {b}. Starts at {a}.",
    "{a} seconds - {b} seconds",
    "０:１６ - ０:２３",
    "It starts around {a} and ends around {b}",
)
TIME_LEADS = (
    "",
    "Sure! ",
    "Answer: ",
    "After watching, ",
    "The video is 30 seconds long. ",
    "In 2 steps: ",
    "Timestamps\n",
)


def _clock(x: float) -> str:
    return f"{int(x) // 60:02d}:{int(x) % 60:02d}"


def _hclock(x: float) -> str:
    return f"0:{int(x) // 60:02d}:{int(x) % 60:02d}"


def time_replies(n: int = 2400, seed: int = 0) -> list[str]:
    """``n`` distinct temporal-grounding replies: numbers, clocks, ranges, keywords, noise."""
    rng = random.Random(seed)
    out: dict[str, None] = {}
    while len(out) < n:
        a = round(rng.uniform(0, 40), rng.choice((0, 1, 2)))
        b = round(a + rng.uniform(0.5, 25), rng.choice((0, 1)))
        c, d = round(rng.uniform(0, 60), 1), round(rng.uniform(0, 60), 1)
        a_s = str(int(a)) if a == int(a) and rng.random() < 0.5 else str(a)
        form = rng.choice(TIME_FORMS)
        text = form.format(
            a=a_s, b=b, c=c, d=d, ca=_clock(a), cb=_clock(b), ha=_hclock(a), hb=_hclock(b)
        )
        if rng.random() < 0.3:
            text = text.upper() if rng.random() < 0.3 else text
        out.setdefault(rng.choice(TIME_LEADS) + text)
    return list(out)


def lmms_eval_module(name: str) -> Any:
    """lmms-eval's module ``name``, or a skip when lmms-eval (or one of its heavy dependencies)
    cannot be imported here: the comparison then runs where lmms-eval is installed."""
    import importlib

    import pytest

    try:
        return importlib.import_module(name)
    except Exception as exc:  # not installed, or torch/datasets/decord missing
        pytest.skip(f"lmms-eval not importable: {exc}")
