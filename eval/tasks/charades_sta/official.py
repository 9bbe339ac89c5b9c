"""Charades-STA: the annotation format and IoU of its release (TALL) and lmms-eval's generative
protocol (prompt, time extraction, metrics).

Sources:

- official: jiyanggao/TALL@3df6794af1482f5b3d48022bc05e5a4ecfae0e5d ``README.md`` (annotation lines
  ``"[video name] [start time] [end time]##[sentence]"``) and ``main.py`` (``calculate_IoU``,
  R@1 as ``iou >= iou_thresh`` of the top prediction). TALL ships no prompt and no reply parser
  (it scores a regression model), so ``protocol=official`` takes those two from lmms-eval and the
  default protocol is ``lmms-eval`` (docs/eval.md). Videos: the Charades v1 480p archive unpacks
  to ``Charades_v1_480/<id>.mp4``.
- lmms-eval: EvolvingLMMs-Lab/lmms-eval@75571cfe0fa36ca5ec2e6aa2bb268f9d38295af3
  ``lmms_eval/tasks/charades_sta/{utils.py,charades.yaml}``: ``temporal_grounding_doc_to_text``,
  ``extract_time``, ``iou``, ``_temporal_grounding_compute_metrics``.

``extract_time`` (kept as written): lower-case the reply; remove its own example sentence; replace
EVERY ``to`` with ``-`` (inside words too: "tomato" becomes "-mato"); split into sentences at
``!``, ``?`` and newlines (not at ``.``); keep the sentences with a keyword (starts, ends, happens
in, start time, end time, start, end, happen), or all when none has one; then the first of, per
sentence in order: a ``m:ss``/``h:mm:ss`` clock range; a ``number - number`` range; otherwise all
clocks of the kept sentences paired in order; otherwise the FIRST number of each kept sentence
paired across sentences; otherwise a ``12s - 15s`` range. Only the first pair is used, swapped
when reversed. A reply without exactly one pair is a bad prediction (IoU 0).

Metric differences: lmms-eval's ``iou`` is 0 for disjoint spans; TALL's ``calculate_IoU`` goes
negative (no clamp), which changes no R@t and is clamped at 0 for the mean here (TALL reports no
mean IoU). lmms-eval keys its results by ``video>>>caption>>>timestamp``, so annotation lines
repeated verbatim count once under ``lmms-eval``; under ``official`` every line counts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

THRESHOLDS = (0.3, 0.5, 0.7)
PRE_PROMPT = (
    "Please find the visual event described by a sentence in the video, determining its starting "
    "and ending times. The format should be: 'The event happens in the start time - end time'. "
    "For example, The event 'person turn a light on' happens in the 24.3 - 30.4 seonds. Now I will "
    "give you the textual sentence: "
)
POST_PROMPT = "Please return its start time and end time."
_LINE = re.compile(r"^(\S+)\s+(\d+(?:\.\d+)?)\s+(\d+(?:\.\d+)?)##(.*)$")


def prompt(caption: str) -> str:
    """``temporal_grounding_doc_to_text`` with charades.yaml's default kwargs."""
    return f"{PRE_PROMPT}{caption}. {POST_PROMPT}"


def parse_line(line: str) -> tuple[str, float, float, str] | None:
    """``(video id, start, end, sentence)`` of one annotation line, or None."""
    m = _LINE.match(line.strip())
    return (m[1], float(m[2]), float(m[3]), m[4]) if m else None


# ---- extract_time -------------------------------------------------------------------------------
_EXAMPLE = "A specific example is : 20.8 - 30.0 seconds".lower()
_KEYWORDS = ("starts", "ends", "happens in", "start time", "end time", "start", "end", "happen")
_CLOCK_RANGE = re.compile(r"\b(\d{1,2}:\d{2}(?::\d{2})?)\s*[–-]\s*(\d{1,2}:\d{2}(?::\d{2})?)\b")
_RANGE = re.compile(r"(\d+(?:\.\d+)?)\s*[–-]\s*(\d+(?:\.\d+)?)")
_NUMBER = re.compile(r"\b(\d+(?:\.\d+)?)\b")
_CLOCK = re.compile(r"\b(\d{1,2}:\d{2}(?::\d{2})?)\b")
_S_RANGE = re.compile(r"(\d+(?:\.\d+)?)\s*s?\s*[–-]\s*(\d+(?:\.\d+)?)\s*s?")


def clock_seconds(clock: str) -> float:
    """``m:ss`` or ``h:mm:ss`` in seconds."""
    parts = [float(p) for p in clock.split(":")]
    return (
        parts[0] * 3600 + parts[1] * 60 + parts[2] if len(parts) == 3 else parts[0] * 60 + parts[1]
    )


def _pairs(values: list[float]) -> list[tuple[float, float]]:
    values = values[: len(values) // 2 * 2]
    return [(values[i], values[i + 1]) for i in range(0, len(values), 2)]


def _first_range(sentences: list[str], pattern: re.Pattern[str], conv: Any) -> list[Any]:
    for s in sentences:
        found = pattern.findall(s)
        if found:
            return [(conv(a), conv(b)) for a, b in found]
    return []


def extract_time(reply: str) -> list[tuple[float, float]]:
    """lmms-eval's ``extract_time``: ``[(start, end)]`` or ``[]``."""
    text = reply.lower().replace(_EXAMPLE, "").replace("to", "-")
    sentences = re.split(r"[!?\n]", text)
    kept = [s for s in sentences if any(k in s for k in _KEYWORDS)] or sentences
    spans = _first_range(kept, _CLOCK_RANGE, clock_seconds) or _first_range(kept, _RANGE, float)
    if not spans:
        spans = _pairs([clock_seconds(c) for s in kept for c in _CLOCK.findall(s)])
    if not spans:
        spans = _pairs([float(_NUMBER.findall(s)[0]) for s in kept if _NUMBER.findall(s)])
    if not spans:
        spans = _first_range(kept, _S_RANGE, float)
    return [(a, b) if b > a else (b, a) for a, b in spans[:1]]


# ---- IoU and metrics ----------------------------------------------------------------------------
def tall_iou(gt: tuple[float, float], pred: tuple[float, float]) -> float:
    """TALL ``calculate_IoU``: (min end - max start) / (max end - min start), NOT clamped."""
    union = max(gt[1], pred[1]) - min(gt[0], pred[0])
    return (min(gt[1], pred[1]) - max(gt[0], pred[0])) / union


def lmms_iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    """lmms-eval ``iou``: 0 for disjoint spans or an empty union."""
    denom = max(a[1], b[1]) - min(a[0], b[0])
    return 0.0 if denom <= 0 else max(min(a[1], b[1]) - max(a[0], b[0]), 0) / denom


def span_iou(gt: tuple[float, float], reply: str, protocol: str) -> tuple[float, bool]:
    """``(IoU, bad)`` of a reply: a reply without exactly one span has IoU 0 and is bad."""
    spans = extract_time(reply)
    if len(spans) != 1:
        return 0.0, True
    if protocol == "official":
        union = max(gt[1], spans[0][1]) - min(gt[0], spans[0][0])
        return (max(tall_iou(gt, spans[0]), 0.0) if union > 0 else 0.0), False
    return lmms_iou(gt, spans[0]), False


def metrics(ious: Iterable[float]) -> dict[str, Any]:
    """R@1 at IoU >= 0.3/0.5/0.7 and the mean IoU, in %, as lmms-eval names them."""
    vals = list(ious)
    n = len(vals)
    out: dict[str, Any] = {
        f"IOU@{int(t * 10)}": (100.0 * sum(v >= t for v in vals) / n if n else None)
        for t in THRESHOLDS
    }
    out["mIOU"] = 100.0 * sum(vals) / n if n else None
    out["n"] = n
    return out


def lmms_key(video: str, caption: str, start: float, end: float) -> str:
    """lmms-eval's result key (``video>>>caption>>>timestamp``): equal keys collapse into one."""
    return f"{video}>>>{caption}>>>{[start, end]}"
