"""Subtitles: parse ``.srt``/``.vtt`` (and LongVideoBench's JSON), pick the cues the model's frames
overlap, and render them as timed text under a token limit.

Long-video benchmarks with speech (Video-MME, arXiv 2405.21075; LongVideoBench, arXiv 2407.15754)
give the model the subtitles *of the sampled frames*, not the whole transcript: Video-MME keeps the
cues whose time span contains a sampled frame, LongVideoBench the cues whose span (widened to at
least one second) covers one. Both rules are :func:`select_cues` with a different ``min_span_s``.
The selected lines are rendered in time order, with their start time in seconds by default
(``[12.3s] text``), so the text lines up with the frames' true timestamps that the adapter gives the
model; :func:`fit_max_tokens` thins them evenly over time to fit ``max_tokens``.

Two placements (``Subtitles.placement``): ``before`` puts all selected lines in one block before
the question; ``interleaved`` puts each cue between the frames by its time, LongVideoBench's
official rule (``insert_subtitles_into_frames`` in its loader): a cue follows every frame whose
timestamp is at or before the cue's midpoint. :func:`place_cues` applies it to a model's temporal
steps (a frame, or a Qwen frame pair with the pair's mean time) and the adapter cuts the video's
tokens there (``vlmctx.models.splice.interleave_subtitles``). ``auto`` (the default) is ``interleaved`` where
the model family and configuration can take it, else ``before``.

Parsing is strict about what matters and lenient about the rest: a UTF-8 BOM, CRLF/CR line ends,
missing cue numbers, ``,`` or ``.`` millisecond separators, hours omitted (WebVTT), cue settings,
NOTE/STYLE blocks and HTML-ish tags (``<font ...>``, ``<i>``, ``<v Speaker>``) are handled; a cue
whose timing line cannot be read, or that ends before it starts, is a :class:`DataFormatError`
naming the file and line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlmctx.errors import DataFormatError

_TIME = r"(?:(\d+):)?(\d{1,2}):(\d{1,2})(?:[.,](\d{1,3}))?"
_TIMING = re.compile(rf"^\s*{_TIME}\s*-->\s*{_TIME}(?:\s+.*)?$")
_TAG = re.compile(r"<[^>]*>")


@dataclass(frozen=True)
class Cue:
    """One subtitle line: start and end in seconds (video time) and its plain text."""

    start_s: float
    end_s: float
    text: str


def _seconds(h: str | None, m: str, s: str, frac: str | None) -> float:
    ms = int((frac or "0").ljust(3, "0"))
    return int(h or 0) * 3600 + int(m) * 60 + int(s) + ms / 1000.0


def parse_timestamp(text: str) -> float:
    """``HH:MM:SS,mmm``, ``HH:MM:SS.mmm`` or ``MM:SS.mmm`` -> seconds."""
    m = re.fullmatch(_TIME, text.strip())
    if not m:
        raise DataFormatError(f"bad timestamp {text!r}: expected HH:MM:SS,mmm or MM:SS.mmm")
    return _seconds(*m.groups())


def _clean(lines: list[str]) -> str:
    return " ".join(_TAG.sub("", ln).strip() for ln in lines if _TAG.sub("", ln).strip())


def parse_cues(text: str, source: str = "<subtitles>") -> list[Cue]:
    """Cues of an SRT or WebVTT document (the two differ only in ways handled here)."""
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    cues: list[Cue] = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip() or line.startswith(("WEBVTT", "NOTE", "STYLE", "REGION")):
            i = _skip_block(lines, i) if line.strip() else i + 1
            continue
        timing_at = i if "-->" in line else i + 1  # an SRT number / VTT identifier comes first
        if timing_at >= len(lines) or "-->" not in lines[timing_at]:
            raise DataFormatError(
                f"{source}:{i + 1}: expected a timing line 'START --> END', got {line.strip()!r}"
            )
        m = _TIMING.match(lines[timing_at])
        if not m:
            raise DataFormatError(
                f"{source}:{timing_at + 1}: bad cue timing {lines[timing_at].strip()!r}"
            )
        start, end = _seconds(*m.groups()[:4]), _seconds(*m.groups()[4:])
        if end < start:
            raise DataFormatError(f"{source}:{timing_at + 1}: cue ends before it starts")
        j = timing_at + 1
        while j < len(lines) and lines[j].strip():
            j += 1
        body = _clean(lines[timing_at + 1 : j])
        if body:
            cues.append(Cue(start, end, body))
        i = j
    return sorted(cues, key=lambda c: (c.start_s, c.end_s))


def _skip_block(lines: list[str], i: int) -> int:
    while i < len(lines) and lines[i].strip():
        i += 1
    return i


def parse_json_cues(data: Any, source: str = "<subtitles>") -> list[Cue]:
    """LongVideoBench's subtitle JSON: ``[{"start", "end", "line"}]`` with ``HH:MM:SS.mmm``
    strings, or ``[{"timestamp": [start, end], "text"}]`` in seconds (``end`` may be null: the
    cue runs to the end of the video, kept as infinity)."""
    if not isinstance(data, list):
        raise DataFormatError(f"{source}: subtitle JSON must be a list of cues")
    cues = []
    for n, item in enumerate(data, 1):
        try:
            if "timestamp" in item:
                start, end = item["timestamp"]
                end = float("inf") if end is None else float(end)
                cues.append(Cue(float(start), end, _clean([str(item["text"])])))
            else:
                start_s, end_s = parse_timestamp(item["start"]), parse_timestamp(item["end"])
                cues.append(Cue(start_s, end_s, _clean([str(item["line"])])))
        except (KeyError, TypeError, ValueError, DataFormatError) as exc:
            raise DataFormatError(
                f"{source}: cue {n} needs start/end/line or timestamp/text ({exc})"
            ) from exc
    return sorted((c for c in cues if c.text), key=lambda c: (c.start_s, c.end_s))


def read_subtitles(path: str | Path) -> list[Cue]:
    """Cues of a ``.srt``, ``.vtt`` or LongVideoBench ``.json`` subtitle file."""
    p = Path(path)
    if not p.is_file():
        raise DataFormatError(f"subtitle file {str(p)!r} not found")
    try:
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataFormatError(f"{p}: not UTF-8 text ({exc.reason}); convert it to UTF-8") from exc
    if p.suffix.lower() == ".json":
        try:
            return parse_json_cues(json.loads(text), str(p))
        except json.JSONDecodeError as exc:
            raise DataFormatError(f"{p}: not JSON ({exc.msg}, line {exc.lineno})") from exc
    return parse_cues(text, str(p))


def select_cues(
    cues: Sequence[Cue], times_s: Sequence[float], min_span_s: float = 0.0
) -> list[Cue]:
    """Cues whose span contains at least one of ``times_s``, in time order.

    A cue ``[start, end)`` is widened around its midpoint to ``min_span_s`` when shorter (Video-MME:
    0, LongVideoBench: 1 s), so a sparse frame sampling still catches short lines.
    """
    out = []
    for c in cues:
        start, end = c.start_s, c.end_s
        if end - start < min_span_s:
            mid = (start + end) / 2
            start, end = mid - min_span_s / 2, mid + min_span_s / 2
        if any(start <= t < end for t in times_s):
            out.append(c)
    return out


def render(cues: Sequence[Cue], timestamps: bool = True) -> str:
    """One line per cue, ``[12.3s] text`` (or the text alone)."""
    return "\n".join(f"[{c.start_s:.1f}s] {c.text}" if timestamps else c.text for c in cues)


def fit_max_tokens(
    cues: Sequence[Cue], max_tokens: int | None, count: Callable[[str], int], timestamps: bool
) -> list[Cue]:
    """The most cues, evenly spread over time, whose rendering costs at most ``max_tokens``."""
    if max_tokens is None or count(render(cues, timestamps)) <= max_tokens:
        return list(cues)
    lo, hi = 0, len(cues)  # largest k whose evenly spaced subset fits (binary search)
    while lo < hi:
        k = (lo + hi + 1) // 2
        if count(render(_spread(cues, k), timestamps)) <= max_tokens:
            lo = k
        else:
            hi = k - 1
    return _spread(cues, lo)


def _spread(cues: Sequence[Cue], k: int) -> list[Cue]:
    if k <= 0:
        return []
    n = len(cues)
    return [cues[round(i * (n - 1) / max(k - 1, 1))] for i in range(k)] if k < n else list(cues)


def place_cues(
    cues: Sequence[Cue], step_times_s: Sequence[float], duration_s: float | None = None
) -> list[tuple[int, list[Cue]]]:
    """Group cues by where they go between temporal steps: ``(k, cues)`` puts ``cues`` after the
    first ``k`` steps (0: before the video; ``len(step_times_s)``: after it).

    LongVideoBench's rule: a cue follows every step whose time is at or before the cue's midpoint
    (an open-ended cue, ``end_s`` infinite, ends at ``duration_s`` as in the official loader).
    ``step_times_s`` must be sorted (frames in time order).
    """
    groups: list[tuple[int, list[Cue]]] = []
    for c in cues:
        end = c.end_s if c.end_s != float("inf") or duration_s is None else duration_s
        mid = (c.start_s + end) / 2
        k = sum(1 for t in step_times_s if t <= mid)
        if groups and groups[-1][0] == k:
            groups[-1][1].append(c)
        else:
            groups.append((k, [c]))
    return groups


PLACEMENTS = ("auto", "interleaved", "before")


@dataclass(frozen=True)
class Subtitles:
    """A subtitle track and how to show it: what a caller hands to ``VideoLM.ask``.

    ``offset_s`` is subtracted from every cue (LongVideoBench's
    ``starting_timestamp_for_subtitles``); ``header`` is written before the lines (Video-MME's
    "This video's subtitles are listed below:"; ``before`` placement only); ``max_tokens`` caps
    the rendered lines; ``placement`` is ``auto``, ``interleaved`` or ``before`` (module
    docstring).
    """

    cues: tuple[Cue, ...]
    max_tokens: int | None = None
    timestamps: bool = True
    min_span_s: float = 0.0
    header: str = "Subtitles of the video (start time in seconds):\n"
    placement: str = "auto"

    def __post_init__(self) -> None:
        if self.placement not in PLACEMENTS:
            raise DataFormatError(
                f"subtitle placement must be one of {', '.join(PLACEMENTS)}, got {self.placement!r}"
            )

    @classmethod
    def load(cls, file: str, offset_s: float = 0.0, **options: Any) -> Subtitles:
        cues = read_subtitles(file)
        if offset_s:
            cues = [Cue(c.start_s - offset_s, c.end_s - offset_s, c.text) for c in cues]
        if options.get("max_tokens") is not None and int(options["max_tokens"]) < 1:
            raise DataFormatError("subtitle token limit must be at least 1")
        return cls(tuple(cues), **options)

    def picked(self, times_s: Sequence[float], count: Callable[[str], int]) -> list[Cue]:
        """The cues at ``times_s`` that fit max_tokens (counted on their rendered lines)."""
        return fit_max_tokens(
            select_cues(self.cues, times_s, self.min_span_s),
            self.max_tokens,
            count,
            self.timestamps,
        )

    def text(self, times_s: Sequence[float], count: Callable[[str], int]) -> str:
        """The header and the cues at ``times_s`` within max_tokens; empty when none apply."""
        picked = self.picked(times_s, count)
        return f"{self.header}{render(picked, self.timestamps)}\n" if picked else ""

    def blocks(
        self,
        times_s: Sequence[float],
        step_times_s: Sequence[float],
        count: Callable[[str], int],
        duration_s: float | None = None,
    ) -> list[tuple[int, str]]:
        """Interleaved placement: ``(k, lines)`` per text block, to go after the first ``k`` of
        the temporal steps at ``step_times_s`` (:func:`place_cues`); the cues are those of
        :meth:`picked` (frames at ``times_s``, within max_tokens), without the header."""
        groups = place_cues(self.picked(times_s, count), step_times_s, duration_s)
        return [(k, render(group, self.timestamps)) for k, group in groups]
