"""Video-MME (arXiv 2405.21075): 900 videos, 2700 questions, short/medium/long, with or without
subtitles — the official release read from a local folder, scored by ``protocol``.

Folder, as the releases leave it (:mod:`.release`)::

    ROOT/videomme/test-00000-of-00001.parquet   (HF lmms-lab/Video-MME; or *.json / *.jsonl)
    ROOT/output_test_template.json              (the official results template, as released)
    ROOT/data/<videoID>.mp4 | .MP4 | .mkv
    ROOT/subtitle/<videoID>.srt                 (only for --task-arg videomme:subtitles=true)

``protocol=official`` (the default): the README's prompt, ``eval_your_results.py``'s extraction
(its prefix-list quirk included) and its metric, which leaves unparsed replies OUT of the
denominator; ``protocol=lmms-eval``: lmms-eval's prompts, ``extract_mcq_answer`` and accuracy over
every question. Sources, commits and quirks: :mod:`.official`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any, ClassVar

from vlmctx.errors import DataFormatError
from vlmctx_eval.harness.records import Sample
from vlmctx_eval.tasks.base import TASKS
from vlmctx_eval.tasks.common.protocol import check_protocol
from vlmctx_eval.tasks.common.release import OfficialMCQ, mcq_aggregate, require_dir
from vlmctx_eval.tasks.videomme import official
from vlmctx_eval.tasks.videomme.release import find_video, read_records

NO_SUBS = "No subtitles available"
RELEASE_FIELDS = (
    "video_id",
    "duration",
    "domain",
    "sub_category",
    "question_id",
    "task_type",
    "question",
    "options",
    "answer",
)


@TASKS.register("videomme", summary="Video-MME official release (short/medium/long; subtitles)")
class VideoMME(OfficialMCQ):
    """Video-MME multiple choice; ``subtitles=true`` is the "w/ subs" setting."""

    name: ClassVar[str]  # set by TASKS.register
    version = "2"

    def __init__(
        self,
        root: str,
        subtitles: bool = False,
        subtitle_tokens: int | None = None,
        protocol: str = "official",
    ) -> None:
        self.root = require_dir(root, "videomme", "give --task-arg videomme:root=/data/Video-MME")
        self.subtitles = bool(subtitles)
        self.subtitle_tokens = subtitle_tokens
        self.protocol = check_protocol("videomme", protocol)
        self.max_new_tokens = 32 if self.protocol == "official" else 16  # lmms-eval's yaml: 16

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "root": self.root,
            "subtitles": self.subtitles,
            "subtitle_tokens": self.subtitle_tokens,
            "protocol": self.protocol,
        }

    def raw_samples(self) -> Iterable[tuple[str, Sample | Exception]]:
        for n, rec in enumerate(read_records(self.root), 1):
            try:
                yield f"videomme#{n}", self._sample(rec)
            except (DataFormatError, KeyError, TypeError, AttributeError) as exc:
                yield f"videomme#{n}", DataFormatError(f"bad record: {exc}")

    def _prompt(self, question: str, options: list[str], has_subs: bool | None) -> str:
        """``has_subs``: None without subtitles; False when the video has no subtitle file."""
        if self.protocol == "official":
            if has_subs is False:  # the header with nothing under it, as the README's format
                return official.official_prompt(question, options, NO_SUBS)
            return official.official_prompt(question, options)
        if has_subs is None:
            return official.lmms_prompt(question, options)
        if has_subs:  # the subtitle track brings the header and the lines
            return official.lmms_subtitle_question(question, options)
        return official.lmms_subtitle_prompt(question, options, None)

    def _sample(self, rec: dict[str, Any]) -> Sample:
        vid = str(rec["videoID"])
        options = [str(o) for o in rec["options"]]
        answer = str(rec["answer"]).strip()
        if answer not in ("A", "B", "C", "D"):
            raise DataFormatError(f"answer {answer!r} is not one of the option letters")
        meta: dict[str, Any] = {
            "options": options,
            "bucket": str(rec["duration"]),
            "category": str(rec.get("task_type")),
            "domain": rec.get("domain"),
            "release": {k: rec.get(k) for k in RELEASE_FIELDS},
        }
        has_subs = None
        if self.subtitles:
            sub = os.path.join(self.root, "subtitle", f"{vid}.srt")
            has_subs = os.path.isfile(sub)
            if has_subs:
                header = (
                    official.SUBTITLE_HEADER + "\n"
                    if self.protocol == "official"
                    else official.LMMS_SUBTITLE_HEADER
                )
                meta["subtitles"] = {
                    "file": sub,
                    "header": header,
                    "timestamps": False,
                    "max_tokens": self.subtitle_tokens,
                    "placement": "before",
                }
        return Sample(
            id=str(rec["question_id"]),
            target=answer,
            video=find_video(self.root, vid),
            question=self._prompt(str(rec["question"]), options, has_subs),
            max_new_tokens=self.max_new_tokens,
            meta=meta,
        )

    def parse(self, text: str, sample: Sample) -> str | None:
        return official.extract(text, self.protocol) or None

    def aggregate(self, samples: list[Sample], scores: list[dict[str, Any]]) -> dict[str, Any]:
        """``official``: accuracy over the ANSWERED questions (eval_your_results.py);
        ``lmms-eval``: over every question. ``unparsed_pct`` is over every scored question."""
        return mcq_aggregate(samples, scores, skip_unparsed=self.protocol == "official")

    def official_results(
        self, samples: list[Sample], records: list[dict[str, Any]]
    ) -> tuple[str, Any]:
        """``official_videomme.json``: the replies in the official results format, for
        ``eval_your_results.py --results_file`` (parse_answer@afd52cf)."""
        rows = [
            {**s.meta["release"], "response": str(r.get("prediction", ""))}
            for s, r in zip(samples, records, strict=True)
        ]
        return "official_videomme.json", official.results_file(rows)
