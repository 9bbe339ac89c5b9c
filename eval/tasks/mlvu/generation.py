"""MLVU (arXiv 2406.04264) dev set, generation tasks, scored by an LLM judge: ``mlvu_gen``.

Folder (Hugging Face ``MLVU/MVLU``, dev split; the same layout as the multiple-choice tasks)::

    ROOT/json/8_sub_scene.json, 9_summary.json
    ROOT/video/8_sub_scene/<video file>, ROOT/video/9_summary/<video file>

Each JSON is a list of ``{"video", "duration", "question", "answer"}``; Sub-Scene Captioning
records also carry ``scoring_points`` (the judge's key facts; a list of strings, or one string).
The model is asked the official ``open_bench.py`` way: the sentence "Carefully watch this video
and pay attention to every detail. Based on your observations, answer the given questions." and
the question; up to ``max_new_tokens`` (the official script's 1000).

Scoring follows the protocol of MLVU's official ``evaluate_ssc.py`` / ``calculate.py`` (SSC) and
``evaluate_summary.py`` / ``calculate_sum.py`` (VS): one judge call per answer (rubric as the
system message, the case as the user message, temperature 0; judge ``gpt-4-turbo`` by default, as
in those scripts), two scores from 1 to 5 per answer, each task's score the sum of the two means
(at most 10):

* SSC: ``score_accuracy`` (each scoring point rated 1 missed / 3 partly right / 5 right, then
  averaged) and ``score_relevance`` (1 off-topic ... 5 fully on the question and certain), from the
  question, the scoring points and the answer (the reference caption is not shown to the judge);
* VS: ``score_completeness`` (coverage of the reference summary's key content) and
  ``score_reliability`` (factual errors and contradictions; extra details that do not conflict
  are not penalised), from the reference summary and the answer.

G-Avg, the mean of SSC and VS, is the "G-Avg (full mark 10)" of MLVU's leaderboard (a reading of
the repository's README; the paper's tables were not checked offline).

``protocol=official`` (the default): the judge prompts VERBATIM from ``evaluate_ssc.py`` /
``evaluate_summary.py`` (:mod:`.judge_prompts`), one call per answer, and the scores read as
``calculate.py`` / ``calculate_sum.py`` read them (:func:`.official.official_judge_scores`: the
FIRST occurrence of each key, the text after its colon up to the next comma); a missing score adds
0 and the answer stays in the denominator; a reply whose score slice is no number (where the
official script stops) is a scoring error. ``protocol=vlmctx``: vlmctx's own rubric wording (same
criteria, scales and keys), the LAST ``key: number`` of each key, up to two re-asks of a reply
without both scores in 1..5, then a scoring error left out of the means. Scores are labelled
``judge_*``: a judge other than ``gpt-4-turbo`` gives numbers comparable only in protocol.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from vlmctx.errors import ConfigError, DataFormatError
from vlmctx_eval.harness.records import Sample
from vlmctx_eval.tasks.base import TASKS
from vlmctx_eval.tasks.common.judge import OpenAIJudge
from vlmctx_eval.tasks.common.release import (
    OfficialRelease,
    bucket_order,
    duration_bucket,
    require_dir,
)
from vlmctx_eval.tasks.mlvu import judge_prompts, official
from vlmctx_eval.tasks.mlvu.task import read_release

SYSTEM = (
    "Carefully watch this video and pay attention to every detail. Based on your observations, "
    "answer the given questions.\n"
)
JUDGE_MODEL = "gpt-4-turbo"  # evaluate_ssc.py / evaluate_summary.py

# ---- judge rubrics: OUR OWN wording of the official criteria (see the module docstring) ---------
SSC_RUBRIC = """You grade one answer to a question about a scene of a long video. You get the
question, the scoring points (the facts a correct answer states) and the answer. Give two
scores, each from 1 to 5.

ACCURACY: rate the answer on every scoring point: 1 if it misses the point, 3 if it says
something related to the point that is not fully correct, 5 if it states the point correctly.
The accuracy score is the mean of these ratings (it may be a fraction).

RELEVANCE: how well the answer stays on the question, whatever its correctness:
1 = off-topic; 2 = partly on the question, with much unrelated content; 3 = mostly on the
question but hesitant about its own answer; 4 = mostly on the question and confident;
5 = entirely on the question, nothing unrelated, fully confident.

First explain your ratings briefly (accuracy point by point, then relevance). Then end your
reply with the scores as JSON: {"score_accuracy": <1-5>, "score_relevance": <1-5>}"""

SSC_CASE = """Grade this answer following the instructions; end with the JSON of the scores.
Question: {question}
Scoring points:
{points}
Answer: {prediction}"""

VS_RUBRIC = """You grade a summary of a long video written by a model, against a reference
summary written by a person. Give two scores, each a whole number from 1 to 5.

COMPLETENESS: how much of the reference's main content and key points the summary covers:
1 = almost none; 2 = some, but many are missing; 3 = most of them; 4 = nearly all of them;
5 = all of them.

RELIABILITY: whether what the summary says is correct and clearly put: count factual errors,
misleading statements and contradictions of the reference. Details absent from the reference
cost nothing as long as they are plausible and do not conflict with it.
1 = several factual errors and contradictions, confusing; 2 = some errors and contradictions,
unclear in places; 3 = accurate on the whole with small errors, reasonably clear; 4 = accurate
but for negligible slips, no contradiction, clear; 5 = fully accurate, no contradiction, clear.

First explain each score briefly. Then end your reply with the scores as JSON:
{"score_completeness": <1-5>, "score_reliability": <1-5>}"""

VS_CASE = """Grade this summary following the instructions; end with the JSON of the scores.
Reference summary: {reference}
Model summary: {prediction}"""


@dataclass(frozen=True)
class GenSpec:
    """One generation task: its file stem, its judge prompts and the two scores it reports."""

    file: str
    short: str  # score prefix: ssc | vs
    rubric: str
    case: str
    keys: tuple[str, str]  # reply keys, e.g. score_accuracy, score_relevance


# A data table, one entry per row aligned by hand for reading: `ruff format` skips it.
SPECS = {
    "sub_scene": GenSpec("8_sub_scene", "ssc", SSC_RUBRIC, SSC_CASE,
                         ("score_accuracy", "score_relevance")),
    "summary": GenSpec("9_summary", "vs", VS_RUBRIC, VS_CASE,
                       ("score_completeness", "score_reliability")),
}  # fmt: skip
BY_FILE = {spec.file: kind for kind, spec in SPECS.items()}


def parse_scores(reply: str, keys: tuple[str, ...]) -> dict[str, float] | None:
    """The last ``key: number`` of each key in the reply (JSON or the official single-quoted
    dict); ``None`` when no key is found."""
    out: dict[str, float] = {}
    for key in keys:
        found = re.findall(rf"[\"']?{key}[\"']?\s*:\s*[\"']?(-?\d+(?:\.\d+)?)", reply)
        if found:
            out[key] = float(found[-1])
    return out or None


def check_scores(obj: dict[str, float], keys: tuple[str, ...]) -> dict[str, float]:
    """Both scores present and within 1..5, else ``ValueError`` (a malformed reply)."""
    for key in keys:
        if key not in obj:
            raise ValueError(f"no {key} in the reply")
        if not 1.0 <= obj[key] <= 5.0:
            raise ValueError(f"{key} {obj[key]} outside 1..5")
    return {key: obj[key] for key in keys}


def scoring_points(value: Any) -> list[str]:
    """``scoring_points`` as a list of non-empty strings (a list, or one string)."""
    points = [value] if isinstance(value, str) else value
    if not isinstance(points, list) or not points or not all(str(p).strip() for p in points):
        raise DataFormatError(f"scoring_points must be a non-empty list of strings, got {value!r}")
    return [str(p).strip() for p in points]


@TASKS.register("mlvu_gen", summary="MLVU dev generation: SSC + VS by an LLM judge (G-Avg, 0-10)")
class MLVUGen(OfficialRelease):
    """MLVU's Sub-Scene Captioning and Video Summarization; needs ``--judge-url``."""

    name: ClassVar[str]  # set by TASKS.register
    version = "1"
    stratify_key = "category"  # --limit takes the two tasks in turn
    sample_metric = "judge_total"

    def __init__(
        self,
        root: str,
        judge_url: str | None = None,
        judge_model: str = JUDGE_MODEL,
        judge_key_env: str = "LLM_JUDGE_KEY",
        max_new_tokens: int = 1000,
        short_s: float = 180.0,
        long_s: float = 1200.0,
        protocol: str = "official",
    ) -> None:
        if protocol not in ("official", "vlmctx"):
            raise ConfigError(f"mlvu_gen: protocol must be official or vlmctx, got {protocol!r}")
        self.protocol = protocol
        self.root = require_dir(root, "mlvu_gen", "give --task-arg mlvu_gen:root=/data/MLVU")
        if not judge_url:
            raise ConfigError(
                "mlvu_gen is scored by an LLM judge (MLVU's GPT-4 protocol): add --judge-url URL "
                f"of an OpenAI-compatible endpoint (and --judge-model, default {JUDGE_MODEL}; the "
                "API key in $LLM_JUDGE_KEY or --judge-key-env); see docs/eval.md"
            )
        if int(max_new_tokens) < 1:
            raise ConfigError(f"mlvu_gen: max_new_tokens must be at least 1, got {max_new_tokens}")
        self.judge = OpenAIJudge(judge_url, judge_model, judge_key_env)
        self.max_new_tokens = int(max_new_tokens)
        self.edges = (float(short_s), float(long_s))

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "root": self.root,
            "bucket_edges_s": list(self.edges),
            "max_new_tokens": self.max_new_tokens,
            "metric": "judge_g_avg (LLM judge: MLVU's GPT-4 protocol, own prompt wording)",
            "judge": {
                "url": self.judge.url,
                "model": self.judge.model,
                **self.judge.stats.to_dict(),
            },
        }

    def raw_samples(self) -> Iterable[tuple[str, Sample | Exception]]:
        files = tuple(spec.file for spec in SPECS.values())
        yield from read_release(self.name, self.root, files, self._sample)

    def _sample(self, file: str, n: int, rec: dict[str, Any]) -> Sample:
        kind = BY_FILE[file]
        question = str(rec["question"]).strip()
        meta: dict[str, Any] = {
            "category": kind,
            "question": question,
            "bucket": duration_bucket(float(rec["duration"]), self.edges),
        }
        if kind == "sub_scene":
            meta["scoring_points"] = scoring_points(rec["scoring_points"])
            meta["scoring_points_raw"] = rec["scoring_points"]
        return Sample(
            id=f"{file}/{n}",
            target=str(rec["answer"]),
            video=os.path.join(self.root, "video", file, str(rec["video"])),
            question=SYSTEM + question,
            max_new_tokens=self.max_new_tokens,
            meta=meta,
        )

    def judge_prompt(self, sample: Sample, prediction: str) -> tuple[GenSpec, str]:
        """The judge's user message for ``prediction`` (the rubric goes as the system message)."""
        spec = SPECS[sample.meta["category"]]
        if spec.short == "ssc":
            points = "\n".join(f"{i + 1}. {p}" for i, p in enumerate(sample.meta["scoring_points"]))
            case = spec.case.format(
                question=sample.meta["question"], points=points, prediction=prediction
            )
        else:
            case = spec.case.format(reference=sample.target, prediction=prediction)
        return spec, case

    def official_prompt(self, sample: Sample, prediction: str) -> tuple[str, str]:
        """(system, user) messages of the official scripts for ``prediction``."""
        if sample.meta["category"] == "sub_scene":
            user = judge_prompts.SSC_USER.format(
                question=sample.meta["question"].replace("\n", ""),
                scoring_points=sample.meta.get("scoring_points_raw", sample.meta["scoring_points"]),
                pred=prediction,
            )
            return judge_prompts.SSC_SYSTEM, user
        return judge_prompts.VS_SYSTEM, judge_prompts.VS_USER.format(
            answer=sample.target, pred=prediction
        )

    def score_official(self, sample: Sample, record: dict[str, Any]) -> dict[str, Any]:
        """One judge call with the official prompts; the scores as ``calculate.py`` reads them."""
        spec = SPECS[sample.meta["category"]]
        system, user = self.official_prompt(sample, str(record["prediction"]))
        try:
            reply = self.judge.complete(user, system=system, temperature=0.0, max_tokens=1024)
            first, second = official.official_judge_pair(
                official.official_judge_scores(reply, spec.keys)
            )
        except ValueError as exc:  # the official script stops on such a reply
            self.judge.stats.failed_samples += 1
            return {"error": f"{spec.short} judge: score is no number ({exc})"}
        except (DataFormatError, ConfigError) as exc:
            self.judge.stats.failed_samples += 1
            return {"error": f"{spec.short} judge: {exc}"}
        return self._row(spec, first, second, record)

    def _row(
        self, spec: GenSpec, first: float, second: float, record: dict[str, Any]
    ) -> dict[str, Any]:
        frames = record.get("frames")
        return {
            f"judge_{spec.keys[0].removeprefix('score_')}": first,
            f"judge_{spec.keys[1].removeprefix('score_')}": second,
            "judge_total": first + second,
            "n_frames": len(frames) if isinstance(frames, list) else record.get("n_frames"),
        }

    def score_one(self, sample: Sample, record: dict[str, Any]) -> dict[str, Any]:
        if self.protocol == "official":
            return self.score_official(sample, record)
        spec, case = self.judge_prompt(sample, str(record["prediction"]).strip())
        try:
            got = self.judge.ask_json(
                case,
                lambda o: check_scores(o, spec.keys),
                parse=lambda r: parse_scores(r, spec.keys),
                system=spec.rubric,
                temperature=0.0,
                max_tokens=1024,
            )
        except (DataFormatError, ConfigError) as exc:  # malformed after retries, or unreachable
            self.judge.stats.failed_samples += 1
            return {"error": f"{spec.short} judge: {exc}"}
        first, second = (got[k] for k in spec.keys)
        return self._row(spec, first, second, record)

    def aggregate(self, samples: list[Sample], scores: list[dict[str, Any]]) -> dict[str, Any]:
        return gen_aggregate(samples, scores)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def gen_aggregate(samples: list[Sample], scores: list[dict[str, Any]]) -> dict[str, Any]:
    """Per task the means of its two scores and their sum (SSC, VS: 2-10); G-Avg = the mean of
    SSC and VS when both were scored; breakdowns of the per-answer sum by duration bucket and by
    frames seen."""
    per: dict[str, list[dict[str, Any]]] = {kind: [] for kind in SPECS}
    for s, sc in zip(samples, scores, strict=True):
        if "judge_total" in sc:
            per[s.meta["category"]].append({**sc, "bucket": s.meta["bucket"]})
    flat: dict[str, float | None] = {}
    by_bucket: dict[str, dict[str, float]] = {}
    by_frames: dict[str, dict[str, float]] = {}
    for kind, rows in per.items():
        if not rows:
            continue
        spec = SPECS[kind]
        flat[f"judge_{spec.short}"] = _mean([r["judge_total"] for r in rows])
        for key in spec.keys:
            name = key.removeprefix("score_")
            flat[f"judge_{spec.short}_{name}"] = _mean([r[f"judge_{name}"] for r in rows])
        by_bucket[kind] = _group_means(rows, "bucket")
        framed = [r for r in rows if r.get("n_frames") is not None]
        if framed:
            by_frames[kind] = _group_means(framed, "n_frames", numeric=True)
    ssc, vs = flat.get("judge_ssc"), flat.get("judge_vs")
    flat["judge_g_avg"] = (ssc + vs) / 2 if ssc is not None and vs is not None else None
    return {
        "primary": "judge_g_avg",
        "scores": flat,
        "breakdowns": {"by_bucket": by_bucket, "by_frames": by_frames},
        "n_scored": {
            "all": sum(len(v) for v in per.values()),
            **{k: len(v) for k, v in per.items() if v},
        },
    }


def _group_means(rows: list[dict[str, Any]], key: str, numeric: bool = False) -> dict[str, float]:
    groups: dict[str, list[float]] = {}
    for r in rows:
        groups.setdefault(str(r[key]), []).append(r["judge_total"])
    order = sorted(groups, key=(lambda k: float(k)) if numeric else bucket_order)
    return {k: _mean(groups[k]) for k in order}
