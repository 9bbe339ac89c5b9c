"""LongVideoBench (arXiv 2407.15754), validation set, from the official release folder.

Folder (Hugging Face ``longvideobench/LongVideoBench``, tars extracted)::

    ROOT/lvb_val.json   ROOT/videos/<video_path>   ROOT/subtitles/<subtitle_path>

Record fields: ``id``, ``video_path``, ``subtitle_path``, ``question``, ``candidates``,
``correct_choice`` (0-based index), ``duration_group`` (15, 60, 600, 3600 s), ``duration``,
``starting_timestamp_for_subtitles``, ``question_category``, ``level``. LongVideoBench ships no
scorer (its README sends automatic evaluation to lmms-eval), so the default is
``protocol=lmms-eval``: lmms-eval's prompt (question, ``A. option`` lines, "Answer with the
option's letter from the given choices directly.") and its ``parse_multi_choice_response`` (the
first capital A-E after removing its answer prefixes; where there is none, a random candidate,
drawn here from a generator seeded by the question id); ``protocol=official`` takes the official
dataloader's prompt ("Question: ..." first) with the same extraction and metric
(:mod:`.official`). With ``subtitles=true`` the
cues covering a sampled frame (the official 1 s widening, ``starting_timestamp_for_subtitles``
subtracted) go, as plain text, between the frames by their midpoints, as the official loader's
``insert_subtitles_into_frames`` does. ``subtitle_placement=auto`` (the default) interleaves unless
pooling is on, where it falls back to one block before the question with a note (interleaving with
a pooler is not implemented); ``interleaved`` insists (and refuses pooling); ``before`` always puts
them in one block before the question (docs/eval.md).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import Any, ClassVar

from vlmctx.errors import ConfigError, DataFormatError
from vlmctx_eval.harness.records import Sample
from vlmctx_eval.tasks.base import TASKS
from vlmctx_eval.tasks.common.protocol import check_protocol
from vlmctx_eval.tasks.common.release import OfficialMCQ, require_dir
from vlmctx_eval.tasks.longvideobench import official

GROUPS = {15: "8-15s", 60: "15-60s", 600: "180-600s", 3600: "900-3600s"}


@TASKS.register("longvideobench", summary="LongVideoBench val (duration groups; subtitles)")
class LongVideoBench(OfficialMCQ):
    name: ClassVar[str]  # set by TASKS.register
    version = "1"

    def __init__(
        self,
        root: str,
        file: str = "lvb_val.json",
        subtitles: bool = False,
        subtitle_tokens: int | None = None,
        subtitle_placement: str = "auto",
        protocol: str = "lmms-eval",
    ) -> None:
        self.root = require_dir(root, "longvideobench", "give --task-arg longvideobench:root=DIR")
        self.file = os.path.join(self.root, file)
        if not os.path.isfile(self.file):
            raise ConfigError(f"longvideobench: {self.file!r} not found (the val split file)")
        self.subtitles = bool(subtitles)
        self.subtitle_tokens = subtitle_tokens
        if subtitle_placement not in ("auto", "interleaved", "before"):
            raise ConfigError(
                "longvideobench: subtitle_placement must be auto, interleaved or "
                f"before, got {subtitle_placement!r}"
            )
        self.subtitle_placement = subtitle_placement
        self.protocol = check_protocol("longvideobench", protocol)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "file": self.file,
            "subtitles": self.subtitles,
            "subtitle_tokens": self.subtitle_tokens,
            "subtitle_placement": self.subtitle_placement,
            "protocol": self.protocol,
        }

    def raw_samples(self) -> Iterable[tuple[str, Sample | Exception]]:
        with open(self.file, encoding="utf-8") as fh:
            data = json.load(fh)
        for n, rec in enumerate(data):
            try:
                yield f"{os.path.basename(self.file)}#{n}", self._sample(rec)
            except (DataFormatError, KeyError, TypeError, ValueError, IndexError) as exc:
                yield f"{os.path.basename(self.file)}#{n}", DataFormatError(f"bad record: {exc}")

    def _sample(self, rec: dict[str, Any]) -> Sample:
        cands = [str(c) for c in rec["candidates"]]
        gold = int(rec["correct_choice"])
        if not 0 <= gold < len(cands):
            raise DataFormatError(f"correct_choice {gold} out of range")
        group = int(rec["duration_group"])
        meta: dict[str, Any] = {
            "options": cands,
            "bucket": GROUPS.get(group, str(group)),
            "category": rec.get("question_category"),
            "level": rec.get("level"),
        }
        if self.subtitles and rec.get("subtitle_path"):
            meta["subtitles"] = {
                "file": os.path.join(self.root, "subtitles", rec["subtitle_path"]),
                "offset_s": float(rec.get("starting_timestamp_for_subtitles") or 0.0),
                "min_span_s": 1.0,
                "max_tokens": self.subtitle_tokens,
                "timestamps": False,
                "placement": self.subtitle_placement,
            }
        return Sample(
            id=str(rec["id"]),
            target=chr(ord("A") + gold),
            video=os.path.join(self.root, "videos", rec["video_path"]),
            question=self._prompt(str(rec["question"]), cands),
            max_new_tokens=self.max_new_tokens,
            meta=meta,
        )

    def _prompt(self, question: str, cands: list[str]) -> str:
        if self.protocol == "official":
            return official.official_prompt(question, cands)
        return official.lmms_prompt(question, cands)

    def parse(self, text: str, sample: Sample) -> str | None:
        """lmms-eval's letter; where it would draw at random, a draw seeded by the sample id."""
        return official.lmms_parse(text, len(sample.meta["options"]), sample.id)[0]

    def score_one(self, sample: Sample, record: dict[str, Any]) -> dict[str, Any]:
        out = super().score_one(sample, record)
        out["unparsed"] = float(not official.lmms_extract(str(record["prediction"])))
        return out
