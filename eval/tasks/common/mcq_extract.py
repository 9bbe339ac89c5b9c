"""lmms-eval's shared multiple-choice letter extraction, ported.

Source: EvolvingLMMs-Lab/lmms-eval@75571cfe0fa36ca5ec2e6aa2bb268f9d38295af3
``lmms_eval/tasks/_task_utils/mcq_extract.py`` (``extract_mcq_answer``), used at that commit by the
``videomme``, ``mlvu`` and ``lvbench`` tasks' ``extract_characters_regex``. PyPI ``lmms-eval``
0.7.3 holds the same function (differs only by an unused import).

The rule, as lmms-eval writes it: strip ``,.!?;:'"`` from both ends; pad with spaces; collect
candidates ``(letter, position, format)`` for the formats ``(X)``, ``X.``, ``X:``, ``X)``, ``X `` (each at
its LAST occurrence), every choice letter found after one of the answer phrases (first phrase
occurrence, first letter occurrence after it), a reply that starts or ends with a standalone
letter; only when none of these matched, any occurrence of a letter (its last). The winner has the
highest format priority, then the largest position. Quirks kept: case-sensitive letters (``"b"`` is
nothing), ``"A "`` matches inside words ("A dog" and the article "A"), a phrase adds every letter
that occurs anywhere after it (even inside words), and the ``end`` candidate's position is the padded
text's last index.
"""

from __future__ import annotations

DEFAULT_CHOICES = ("A", "B", "C", "D", "E", "F", "G", "H")

ANSWER_PHRASES = (
    "the answer is",
    "answer is",
    "the correct answer is",
    "correct answer is",
    "the best answer is",
    "best answer is",
    "the correct option is",
    "correct option is",
    "the best option is",
    "best option is",
    "the choice is",
    "choice is",
    "the correct choice is",
    "correct choice is",
    "i choose",
    "i select",
    "i pick",
    "my answer is",
    "my choice is",
    "옵션",
    "정답은",
    "답은",
    "답:",  # Korean
    "答案是",
    "答案为",
    "选",  # Chinese
    "答えは",  # Japanese
)

PRIORITY = {
    "start": 10,
    "end": 9,
    "phrase": 7,
    "parentheses": 6,
    "period": 5,
    "colon": 4,
    "right_paren": 3,
    "space": 2,
    "fallback": 0,
}
_MARKS = (
    ("parentheses", "({})"),
    ("period", "{}."),
    ("colon", "{}:"),
    ("right_paren", "{})"),
    ("space", "{} "),
)


def _candidates(text: str, choices: tuple[str, ...]) -> list[tuple[str, int, str]]:
    """Every (letter, position, format) lmms-eval collects from the padded reply."""
    found = [
        (ch, text.rfind(pat.format(ch)), fmt)
        for fmt, pat in _MARKS
        for ch in choices
        if pat.format(ch) in text
    ]
    low = text.lower()
    for phrase in ANSWER_PHRASES:
        at = low.find(phrase)
        if at != -1:
            after = at + len(phrase)
            found += [
                (ch, text.find(ch, after), "phrase") for ch in choices if text.find(ch, after) != -1
            ]
    core = text.strip()
    for ch in choices:
        if core.startswith(ch) and (len(core) == 1 or not core[1].isalpha()):
            found.append((ch, 0, "start"))
    for ch in choices:
        if core.endswith(ch) and (len(core) == 1 or not core[-2].isalpha()):
            found.append((ch, len(text) - 1, "end"))
    return found


def extract_mcq_answer(response: str | None, choices: tuple[str, ...] | list[str] = ()) -> str:
    """The chosen letter by lmms-eval's rule, or ``""`` when none is found (lmms-eval's value)."""
    if not response or not response.strip():
        return ""
    letters = tuple(choices) or DEFAULT_CHOICES
    text = response.strip()
    for ch in ",.!?;:'\"":
        text = text.strip(ch)
    text = f" {text} "
    found = _candidates(text, letters)
    if not found:
        found = [(ch, text.rfind(ch), "fallback") for ch in letters if ch in text]
    if not found:
        return ""
    return max(found, key=lambda c: (PRIORITY[c[2]], c[1]))[0]
