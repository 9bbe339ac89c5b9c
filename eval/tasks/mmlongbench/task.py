"""The ``mmlongbench`` task: official subset, official per-dataset metrics, paper aggregation.

Scoring follows each official loader's ``post_process`` (arXiv 2505.10610): the max of the metric
on the raw output and on the text after the answer prefix for VRAG, MM-NIAH, ICL and
summarization; the raw output with a default-answer cycle for Visual Haystack; the parsed output
for DocVQA. Aggregation reproduces the paper's tables: per length, a dataset score (mean x 100;
VH accuracy flipped to ``100 - acc`` when below 50), category averages (MM-NIAH text and image
variants averaged per sub-task first), and the overall average of the five categories. A missing
cell makes every average above it missing (``mean(skipna=False)`` in the paper's scripts).
"""

from __future__ import annotations

import os
from collections import defaultdict
from typing import Any, ClassVar

from vlmctx.errors import ConfigError, DataFormatError
from vlmctx_eval.harness.records import Sample
from vlmctx_eval.tasks.base import TASKS, LoadResult, Task, mean
from vlmctx_eval.tasks.common import text_metrics as TM
from vlmctx_eval.tasks.mmlongbench import metrics as M
from vlmctx_eval.tasks.mmlongbench.data import (
    CATEGORIES,
    DATASETS,
    LENGTHS,
    DatasetSpec,
    load_icl,
    load_jsonl_dataset,
    read_rows,
    resolve_file,
)

NIAH_SUBTASKS = ("retrieval", "counting", "reasoning")
JUDGE_MODEL = "gpt-4o-2024-11-20"  # the paper's judge (scripts/eval_gpt4_summ.py)


def select_datasets(names: str) -> list[DatasetSpec]:
    """``all`` | comma list of dataset keys and/or category names (case-insensitive)."""
    if names in ("", "all"):
        return list(DATASETS.values())
    out: list[DatasetSpec] = []
    cats = {c.lower(): c for c in CATEGORIES}
    for name in (n.strip() for n in names.split(",") if n.strip()):
        if name.lower() in cats:
            out += [d for d in DATASETS.values() if d.category == cats[name.lower()]]
        elif name in DATASETS:
            out.append(DATASETS[name])
        else:
            raise ConfigError(
                f"unknown MMLongBench dataset {name!r}; use a category ({', '.join(CATEGORIES)}) "
                f"or one of: {', '.join(DATASETS)}"
            )
    return list(dict.fromkeys(out))


@TASKS.register("mmlongbench", summary="MMLongBench (arXiv 2505.10610): 5 categories, 8K-128K")
class MMLongBench(Task):
    """MMLongBench from a local copy of the published files (``root`` holds mmlb_data/...)."""

    name: ClassVar[str]  # set by TASKS.register
    version = "1.1"
    strata_keys = ("dataset", "length")

    def __init__(
        self,
        root: str,
        image_root: str | None = None,
        datasets: str = "all",
        official_subset: bool = True,
        seed: int = 42,
        judge_url: str | None = None,
        judge_model: str | None = None,
        judge_key_env: str = "LLM_JUDGE_KEY",
        judge_for: str = "summ",
        assistant_prefix: bool = True,
    ) -> None:
        sub = os.path.join(root, "mmlb_data")
        self.data_dir = sub if os.path.isdir(sub) else root
        img = os.path.join(root, "mmlb_image")
        self.image_root = image_root or (img if os.path.isdir(img) else root)
        if not os.path.isdir(self.data_dir):
            raise ConfigError(
                f"MMLongBench data not found at {root!r}; download it (docs/eval.md) and pass "
                "--task-arg mmlongbench:root=DIR"
            )
        self.specs = select_datasets(datasets)
        self.official_subset = official_subset
        self.seed = seed
        self.assistant_prefix = assistant_prefix
        self.judge = None
        self.judge_for = {x.strip().lower() for x in judge_for.split(",") if x.strip()}
        if not self.judge_for <= {"summ", "docqa"}:
            raise ConfigError(f"judge_for={judge_for!r}: use summ, docqa or summ,docqa")
        if judge_url or judge_model:
            from vlmctx_eval.tasks.common.judge import OpenAIJudge

            self.judge = OpenAIJudge(judge_url or "", judge_model or JUDGE_MODEL, judge_key_env)
        self._claims: dict[tuple[str, str], list[str]] = {}
        self._default_answer: dict[str, int] = {}  # sample id -> VH default, set by score()

    def judges(self, what: str) -> bool:
        """Whether the LLM judge scores ``what`` (``summ`` or ``docqa``) in this run."""
        return self.judge is not None and what in self.judge_for

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "datasets": [s.key for s in self.specs],
            "official_subset": self.official_subset,
            "seed": self.seed,
            "assistant_prefix": self.assistant_prefix,
            "docqa_metric": "doc_qa_llm" if self.judges("docqa") else "doc_qa",
            "summ_metric": (
                "judge_flu_f1 (LLM judge, protocol of the paper's gpt4-flu-f1, own prompts)"
                if self.judges("summ")
                else "rougeLsum_f1 (the paper's LLM fluency x F1 judge is not run)"
            ),
            "judge": None
            if self.judge is None
            else {
                "url": self.judge.url,
                "model": self.judge.model,
                "for": sorted(self.judge_for),
                **self.judge.stats.to_dict(),
            },
        }

    def _load_claims(self, spec: DatasetSpec) -> None:
        """Key points for the summarization judge (``summ/{gov,lexsum}_claims.jsonl``)."""
        path = os.path.join(self.data_dir, "summ", f"{spec.loader}_claims.jsonl")
        if not os.path.exists(path):
            raise ConfigError(
                f"the summarization judge needs {path} (from the MMLongBench download); "
                "add it or run without --judge-url"
            )
        probe = LoadResult()
        for n, rec in read_rows(path, probe):
            if not isinstance(rec.get("claims"), list) or "id" not in rec:
                raise DataFormatError(f"{path}:{n + 1}: expected {{id, claims: [str]}}")
            self._claims[(spec.key, str(rec["id"]))] = [str(c) for c in rec["claims"]]
        if probe.errors:
            raise DataFormatError(f"{path}: {probe.errors[0]['error']} (fix the claims file)")

    def load(self, lengths: list[int] | None = None, limit: int | None = None) -> LoadResult:
        out = LoadResult()
        found = 0
        for spec in self.specs:
            for k in lengths or LENGTHS:
                path = resolve_file(self.data_dir, spec, k)
                if path is None:
                    continue
                found += 1
                loader = load_icl if spec.loader == "icl" else load_jsonl_dataset
                if spec.category == "Summ" and self.judges("summ"):
                    self._load_claims(spec)
                part = loader(spec, path, k, self.image_root, self.official_subset, self.seed)
                if self.assistant_prefix:
                    for sample in part.samples:
                        sample.assistant_prefix = spec.prefix
                out.samples += part.samples[:limit] if limit else part.samples
                out.errors += part.errors
        if not found:
            raise DataFormatError(
                f"no MMLongBench files for the selected datasets/lengths under {self.data_dir!r} "
                "(expected e.g. vrag/infoseek_K8_dep3.jsonl; see docs/eval.md)"
            )
        return out

    # ---- scoring -----------------------------------------------------------------------------
    def score(self, samples: list[Sample], records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The base loop, after fixing each sample's Visual Haystack default answer: the cycle
        advances for every sample of a file, with or without a prediction, in evaluation order."""
        cycle_pos: dict[tuple[str, int], int] = defaultdict(int)
        self._default_answer = {}
        for s in samples:
            key = (s.meta["dataset"], s.meta["length"])
            self._default_answer[s.id] = M.DEFAULT_ANSWER_CYCLE[cycle_pos[key] % 4]
            cycle_pos[key] += 1
        return super().score(samples, records)

    def score_one(self, sample: Sample, record: dict[str, Any]) -> dict[str, Any]:
        spec = DATASETS[sample.meta["dataset"]]
        # eval.py prepends the assistant prefix (system_template) to every output before
        # post-processing; "Answer: Answer: x" is handled by parse_output
        pred = spec.prefix + str(record["prediction"])
        try:
            return self._score_pred(spec, sample, pred, self._default_answer[sample.id])
        except DataFormatError as exc:
            return {"error": str(exc)}

    def _score_pred(self, spec: DatasetSpec, s: Sample, pred: str, default: int) -> dict[str, Any]:
        t = s.target
        if spec.metric == "acc":
            return {"acc": M.binary_acc(pred, t, default), "default_answer": default}
        if spec.metric == "doc_qa":
            parsed = TM.parse_output(pred, spec.prefix)
            res: dict[str, Any] = {"doc_qa": M.doc_qa(parsed, t, s.meta["answer_format"])}
            if self.judges("docqa"):
                assert self.judge is not None
                is_list = M.ANSWER_FORMATS.get(str(s.meta["answer_format"])) == "List"
                try:
                    res["doc_qa_llm"] = self.judge.doc_qa(s.meta["question"], t, parsed, is_list)
                except ConfigError as exc:  # judge unreachable: this sample is a scoring error
                    self.judge.stats.failed_samples += 1
                    res["error"] = f"docqa judge: {exc}"
            res["parsed"] = parsed
            return res
        if spec.metric == "rougeLsum_f1" and self.judges("summ"):
            return self._score_summ(spec, s, pred)
        fns = {
            "sub_em": lambda p: {"sub_em": TM.sub_em(p, t)},
            "soft_acc": lambda p: {"soft_acc": M.soft_acc(p, t)},
            "mc_acc": lambda p: {"mc_acc": M.mc_acc(p, t)},
            "cls_acc": lambda p: {"cls_acc": M.cls_acc(p, t)},
            "rougeLsum_f1": lambda p: TM.rouge(p, t),
        }
        return TM.max_over_parse(fns[spec.metric], pred, spec.prefix)

    def _score_summ(self, spec: DatasetSpec, s: Sample, pred: str) -> dict[str, Any]:
        """ROUGE (kept for reference) plus the LLM judge's fluency x F1; a judge failure keeps
        ROUGE and becomes this sample's scoring error (counted in the results)."""
        assert self.judge is not None
        res: dict[str, Any] = TM.max_over_parse(lambda p: TM.rouge(p, s.target), pred, spec.prefix)
        claims = self._claims.get((spec.key, s.meta["doc_id"]))
        if claims is None:
            res["error"] = f"no judge key points for id {s.meta['doc_id']!r} in the claims file"
            self.judge.stats.failed_samples += 1
            return res
        try:
            res.update(self.judge.summarization(pred, str(s.target), claims))
        except DataFormatError as exc:
            res["error"] = str(exc)
        return res

    # ---- aggregation -------------------------------------------------------------------------
    def aggregate(self, samples: list[Sample], scores: list[dict[str, Any]]) -> dict[str, Any]:
        cells: dict[tuple[str, int], list[float]] = defaultdict(list)
        raw: dict[str, dict[str, float]] = defaultdict(dict)
        for s, sc in zip(samples, scores, strict=True):
            metric = self._metric(DATASETS[s.meta["dataset"]])
            if metric in sc:
                cells[(s.meta["dataset"], s.meta["length"])].append(float(sc[metric]))
        table: dict[str, dict[str, float | None]] = defaultdict(dict)
        lengths = sorted({k for _, k in cells})
        for (ds, k), vals in sorted(cells.items()):
            value = 100.0 * sum(vals) / len(vals)
            raw[ds][f"{k}k"] = value
            if DATASETS[ds].metric == "acc" and value < 50:
                value = 100.0 - value  # report-time flip of Visual Haystack accuracy
            table[ds][f"{k}k"] = value
        by_len = self._categories(table, lengths)
        scores_flat: dict[str, float | None] = {}
        for row, cols in by_len.items():
            for col, v in cols.items():
                scores_flat[f"{row}@{col}"] = v
        return {
            "primary": f"Avg@{lengths[-1]}k" if lengths else "",
            "scores": scores_flat,
            "breakdowns": {"by_length": by_len, "datasets": dict(table), "datasets_raw": raw},
            "n_scored": {f"{ds}@{k}k": len(v) for (ds, k), v in sorted(cells.items())},
            "metrics": {ds: self._metric(DATASETS[ds]) for ds in sorted(table)},
        }

    def sample_value(self, sample: Sample, scores: dict[str, Any]) -> float | None:
        """The sample's score in its dataset's metric (the one behind the tables)."""
        value = scores.get(self._metric(DATASETS[sample.meta["dataset"]]))
        return float(value) if isinstance(value, int | float) else None

    def _metric(self, spec: DatasetSpec) -> str:
        """The per-dataset metric behind the tables (labelled in the results as ``metrics``)."""
        if spec.metric == "doc_qa" and self.judges("docqa"):
            return "doc_qa_llm"
        if spec.metric == "rougeLsum_f1" and self.judges("summ"):
            return "judge_flu_f1"
        return spec.metric

    def _categories(self, table: dict, lengths: list[int]) -> dict[str, dict[str, float | None]]:
        """Category rows and ``Avg`` per length, strict about missing cells (paper's rule)."""

        def strict_mean(vals: list[float | None]) -> float | None:
            return None if any(v is None for v in vals) else mean(vals)  # type: ignore[arg-type]

        out: dict[str, dict[str, float | None]] = defaultdict(dict)
        wanted = {s.category for s in self.specs}
        for k in lengths:
            col = f"{k}k"

            def cell(ds: str, col: str = col) -> float | None:
                return table.get(ds, {}).get(col)

            cats: dict[str, float | None] = {}
            for cat in CATEGORIES:
                members = [s.key for s in DATASETS.values() if s.category == cat]
                if cat == "NIAH":
                    subs = [
                        strict_mean([cell(f"mm_niah_{t}-text"), cell(f"mm_niah_{t}-image")])
                        for t in NIAH_SUBTASKS
                    ]
                    cats[cat] = strict_mean([cell("vh_single"), cell("vh_multi"), *subs])
                else:
                    cats[cat] = strict_mean([cell(m) for m in members])
                if cat in wanted:
                    out[cat][col] = cats[cat]
            out["Avg"][col] = strict_mean(list(cats.values()))
        return dict(out)
