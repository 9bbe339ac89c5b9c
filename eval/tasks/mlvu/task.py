"""MLVU (arXiv 2406.04264) dev set, multiple-choice tasks, from the official release folder.

Folder (Hugging Face ``MLVU/MVLU``, dev split)::

    ROOT/json/1_plotQA.json, 2_needle.json, 3_ego.json, 4_count.json, 5_order.json,
              6_anomaly_reco.json, 7_topic_reasoning.json
    ROOT/video/<same stem>/<video file>

Each JSON is a list of ``{"video", "duration", "question", "candidates", "answer" (the correct
candidate's text), "question_type"}``. ``protocol=official`` (the default) follows the official
``choice_bench.py``: its ``qa_template`` (options as ``(A) text``), the user text ending
"Only give the best option.", ``check_ans`` (the one character before the reply's first ``)``, or
the whole reply, must EQUAL the gold letter), and M-Avg, the mean of the task accuracies
(``macro_acc``). A record whose answer is none of its candidates (two in ``2_needle.json``) stays,
with the official gold letter ``@`` (always wrong). ``protocol=lmms-eval``: lmms-eval's prompt,
``extract_mcq_answer`` and its mean over the seven dev task types. Sources and quirks:
:mod:`.official`. The official system text and assistant prefix ("Best Option: (") are passed to
the model when its ``ask()`` takes them; otherwise the system text opens the question and the
prefix is left out (the reply is scored the same way). The generation tasks (8_sub_scene,
9_summary) are the task ``mlvu_gen`` (:mod:`.generation`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any, ClassVar

from vlmctx.errors import ConfigError, DataFormatError
from vlmctx_eval.harness.records import Sample
from vlmctx_eval.tasks.base import TASKS
from vlmctx_eval.tasks.common.protocol import check_protocol
from vlmctx_eval.tasks.common.release import (
    OfficialMCQ,
    duration_bucket,
    mcq_aggregate,
    require_dir,
)
from vlmctx_eval.tasks.mlvu import official

MC_TASKS = (
    "1_plotQA",
    "2_needle",
    "3_ego",
    "4_count",
    "5_order",
    "6_anomaly_reco",
    "7_topic_reasoning",
)
TASK_TYPE = {file: kind for kind, file in official.TASK_FILES.items()}


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


@TASKS.register("mlvu", summary="MLVU dev multiple choice (7 tasks, M-Avg)")
class MLVU(OfficialMCQ):
    name: ClassVar[str]  # set by TASKS.register
    version = "2"

    def __init__(
        self, root: str, short_s: float = 180.0, long_s: float = 1200.0, protocol: str = "official"
    ) -> None:
        self.root = require_dir(root, "mlvu", "give --task-arg mlvu:root=/data/MLVU")
        self.edges = (float(short_s), float(long_s))
        self.protocol = check_protocol("mlvu", protocol)
        self.max_new_tokens = 32 if self.protocol == "official" else 16

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "root": self.root,
            "bucket_edges_s": list(self.edges),
            "protocol": self.protocol,
        }

    def raw_samples(self) -> Iterable[tuple[str, Sample | Exception]]:
        yield from read_release(self.name, self.root, MC_TASKS, self._sample)

    def _sample(self, task: str, n: int, rec: dict[str, Any]) -> Sample:
        cands = [str(c) for c in rec["candidates"]]
        block, gold = official.qa_template(str(rec["question"]), cands, str(rec["answer"]))
        meta: dict[str, Any] = {
            "options": cands,
            "category": TASK_TYPE[task],
            "bucket": duration_bucket(float(rec["duration"]), self.edges),
        }
        prefix = ""
        if self.protocol == "official":
            question = official.official_user_text(block)
            meta["system"] = official.SYSTEM
            prefix = official.ASSISTANT_PREFIX
        else:
            question = official.lmms_user_text(block)
        video = os.path.join(self.root, "video", task, rec["video"])
        return Sample(
            id=f"{task}/{n}",
            target=official.gold_letter(gold),
            video=video,
            question=question,
            max_new_tokens=self.max_new_tokens,
            meta=meta,
            assistant_prefix=prefix,
        )

    def parse(self, text: str, sample: Sample) -> str | None:
        got = official.extract(text, self.protocol)
        letters = [chr(ord("A") + i) for i in range(len(sample.meta["options"]))]
        return got if got in letters else None

    def score_one(self, sample: Sample, record: dict[str, Any]) -> dict[str, Any]:
        """``acc``: what the protocol compares equals the gold letter (``check_ans`` or
        ``pred_answer == answer``); ``parsed``: a candidate letter, or None (``unparsed``)."""
        got = official.extract(str(record["prediction"]), self.protocol)
        out = super().score_one(sample, record)
        out["acc"] = float(got == sample.target)
        return out

    def aggregate(self, samples: list[Sample], scores: list[dict[str, Any]]) -> dict[str, Any]:
        res = mcq_aggregate(samples, scores, primary="macro_acc")
        if self.protocol == "lmms-eval":  # the mean over the seven dev types, absent ones 0
            by_cat = res["breakdowns"]["by_category"]["acc"]
            types = official.DEV_TASK_TYPES
            res["scores"]["macro_acc"] = sum(by_cat.get(t, 0.0) for t in types) / len(types)
        return res
