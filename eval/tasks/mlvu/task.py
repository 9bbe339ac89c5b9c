"""MLVU (arXiv 2406.04264) dev set, multiple-choice tasks, from the official release folder.

Folder (Hugging Face ``MLVU/MVLU``, dev split)::

    ROOT/json/1_plotQA.json, 2_needle.json, 3_ego.json, 4_count.json, 5_order.json,
              6_anomaly_reco.json, 7_topic_reasoning.json
    ROOT/video/<same stem>/<video file>

Each JSON is a list of ``{"video", "duration", "question", "candidates", "answer" (the correct
candidate's text), "question_type"}``. Prompt and scoring follow the official
``choice_bench.py``: options as ``(A) text``, "Only give the best option.", and ``check_ans``
(the reply's first word, without dots, against ``(a)``). The reported score is M-Avg, the mean of
the seven task accuracies (``macro_acc``). The generation tasks (8_sub_scene, 9_summary) are the
task ``mlvu_gen`` (:mod:`.mlvu_gen`), scored by an LLM judge.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any, ClassVar

from vlmctx.errors import ConfigError, DataFormatError
from vlmctx_eval.harness.records import Sample
from vlmctx_eval.tasks.base import TASKS
from vlmctx_eval.tasks.common.release import (
    OfficialMCQ,
    duration_bucket,
    mcq_aggregate,
    require_dir,
)

MC_TASKS = (
    "1_plotQA",
    "2_needle",
    "3_ego",
    "4_count",
    "5_order",
    "6_anomaly_reco",
    "7_topic_reasoning",
)
SYSTEM = (
    "Carefully watch this video and pay attention to every detail. Based on your observations, "
    "select the best option that accurately addresses the question.\n"
)


def read_release(
    task_name: str, root: str, files: tuple[str, ...], build: Callable[[str, int, Any], Sample]
) -> Iterator[tuple[str, Sample | Exception]]:
    """``(source, sample or error)`` for every record of ``ROOT/json/<file>.json`` in ``files``
    order (files that are absent are skipped; none at all is an error), built by
    ``build(file, index, record)``; a malformed record becomes a :class:`DataFormatError`."""
    found = [f for f in files if os.path.isfile(os.path.join(root, "json", f"{f}.json"))]
    if not found:
        raise ConfigError(
            f"{task_name}: none of "
            + ", ".join(f"json/{f}.json" for f in files)
            + f" under {root!r}; see docs/eval.md"
        )
    for file in found:
        path = os.path.join(root, "json", f"{file}.json")
        try:
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
        except (OSError, ValueError) as exc:
            raise DataFormatError(f"{task_name}: cannot read {path} ({exc})") from None
        if not isinstance(data, list):
            raise DataFormatError(f"{task_name}: {path} is not a JSON list of records")
        for n, rec in enumerate(data):
            try:
                yield f"{file}.json#{n}", build(file, n, rec)
            except (DataFormatError, KeyError, TypeError, ValueError) as exc:
                yield f"{file}.json#{n}", DataFormatError(f"bad record: {exc}")


def check_ans(pred: str, gt_letter: str) -> bool:
    """MLVU's official ``check_ans``: the reply's first word (dots removed, lower case) is inside
    the gold ``(x)`` or contains it. A first word without a letter (empty, "(") is wrong here
    (the official substring test would accept it: a quirk not reproduced)."""
    words = pred.lower().split()
    first = words[0].replace(".", "") if words else ""
    gold = f"({gt_letter.lower()})"
    if not any(ch.isalpha() for ch in first):
        return False
    return first in gold or gold in first


@TASKS.register("mlvu", summary="MLVU dev multiple choice (7 tasks, M-Avg)")
class MLVU(OfficialMCQ):
    name: ClassVar[str]  # set by TASKS.register
    version = "1"

    def __init__(self, root: str, short_s: float = 180.0, long_s: float = 1200.0) -> None:
        self.root = require_dir(root, "mlvu", "give --task-arg mlvu:root=/data/MLVU")
        self.edges = (float(short_s), float(long_s))

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "root": self.root,
            "bucket_edges_s": list(self.edges),
        }

    def raw_samples(self) -> Iterable[tuple[str, Sample | Exception]]:
        yield from read_release(self.name, self.root, MC_TASKS, self._sample)

    def _sample(self, task: str, n: int, rec: dict[str, Any]) -> Sample:
        cands = [str(c) for c in rec["candidates"]]
        if rec["answer"] not in cands:
            raise DataFormatError(f"answer {rec['answer']!r} is not one of the candidates")
        letter = chr(ord("A") + cands.index(rec["answer"]))
        lines = [
            f"Question: {rec['question']}",
            "Options:",
            *[f"({chr(ord('A') + i)}) {c}" for i, c in enumerate(cands)],
        ]
        prompt = SYSTEM + "\n".join(lines) + "\nOnly give the best option."
        meta = {
            "options": cands,
            "category": rec.get("question_type", task.split("_", 1)[1]),
            "bucket": duration_bucket(float(rec["duration"]), self.edges),
        }
        video = os.path.join(self.root, "video", task, rec["video"])
        return Sample(
            id=f"{task}/{n}",
            target=letter,
            video=video,
            question=prompt,
            max_new_tokens=self.max_new_tokens,
            meta=meta,
        )

    def parse(self, text: str, sample: Sample) -> str | None:
        for i in range(len(sample.meta["options"])):
            if check_ans(text, chr(ord("A") + i)):
                return chr(ord("A") + i)
        return None

    def aggregate(self, samples: list[Sample], scores: list[dict[str, Any]]) -> dict[str, Any]:
        return mcq_aggregate(samples, scores, primary="macro_acc")
