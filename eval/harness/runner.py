"""The evaluation runner: tasks x one model (or a predictions file) -> samples + results files.

Output layout of one run directory (lmms-eval style, one directory per model x ContextConfig so a
rerun resumes and several configurations sit side by side for ``vlmctx report``)::

    run.json                          model id, full ContextConfig, versions, command
    predictions/<task>/rank<r>.jsonl  resumable raw predictions, one file per data-parallel rank
    samples_<task>.jsonl              scored samples in official order (input summary, prediction,
                                      scores, input tokens, latency, frames, memory)
    results.json                      scores per task, breakdowns, errors, config, versions

Resuming: a sample whose id already has a successful record in any rank file is skipped; records
are appended with fsync; a torn last line from a kill is ignored and reported. Data parallel:
``accelerate launch -m vlmctx.cli eval ...`` gives each rank every ``world``-th sample; rank 0 merges
all rank files, scores in official order and writes the outputs.
"""

from __future__ import annotations

import inspect
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from vlmctx.errors import DataFormatError, VlmctxError
from vlmctx_eval.harness.intervals import headline, per_stratum
from vlmctx_eval.harness.progress import progress
from vlmctx_eval.harness.records import ImageRef, JsonlLog, Sample, read_jsonl, write_atomic
from vlmctx_eval.harness.run_identity import check_identity, digest, task_identity
from vlmctx_eval.harness.strata import select
from vlmctx_eval.tasks.base import LoadResult, Task

log = logging.getLogger(__name__)
SCHEMA_VERSION = 1


@runtime_checkable
class VisionLanguageModel(Protocol):
    """What the runner needs from a model (``vlmctx.engine.VideoLM`` has it)."""

    model_id: str

    def ask(self, video: Any, question: str, *, max_new_tokens: int = ...) -> Any: ...
    def chat(self, content: list[Any], *, max_new_tokens: int = ...) -> Any: ...
    def count_tokens(self, content: list[Any]) -> int: ...
    def info(self) -> dict[str, Any]: ...


@dataclass
class Parallel:
    """Rank, world size and a barrier (a single process by default)."""

    rank: int = 0
    world: int = 1
    barrier: Callable[[], None] = lambda: None
    device: str = "auto"


@dataclass
class RunOptions:
    lengths: list[int] | None = None
    limit: int | None = None  # stratified over the task's strata (eval/harness/strata.py)
    log_samples: bool = False
    progress: bool = True
    parallel: Parallel = field(default_factory=Parallel)
    # replaces generate() to make the predictions elsewhere (eval/harness/ray_runner.py: --engine ray)
    predict: Callable[[Task, list[Sample], Path, RunOptions], None] | None = None
    limit_per_stratum: int | None = None
    seed: int = 0  # which samples a stratified limit takes


def sanitize(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "model"


def run_dir_name(
    model_id: str, config: dict[str, Any], tasks: dict[str, Task] | None = None
) -> str:
    """``<model>__<8 hex>`` of the config and the tasks' descriptions (name, version, arguments):
    the same model, config and tasks -> the same directory (resume); any other -> a new one.
    Without ``tasks`` only the config is hashed (names of earlier versions)."""
    key: Any = config
    if tasks is not None:
        key = {"config": config, "tasks": {n: t.describe() for n, t in sorted(tasks.items())}}
    return f"{sanitize(model_id)}__{digest(key)}"


# ---- predictions ---------------------------------------------------------------------------------
def predict_one(model: VisionLanguageModel, sample: Sample) -> dict[str, Any]:
    """Run the model on one sample and return the prediction record."""
    t0 = time.perf_counter()
    extra: dict[str, Any] = {}
    if sample.content is not None:
        content = [c.open() if isinstance(c, ImageRef) else c for c in sample.content]
        if sample.assistant_prefix and accepts(model.chat, "assistant_prefix"):
            extra["assistant_prefix"] = sample.assistant_prefix
        ans = model.chat(content, max_new_tokens=sample.max_new_tokens, **extra)
    else:
        if sample.meta.get(
            "subtitles"
        ):  # official benchmarks' subtitle tracks (vlmctx.video.subtitles)
            extra["subtitles"] = _subtitles(model, sample)
        question = sample.question or ""
        system = sample.meta.get("system")  # MLVU's official system text
        if system and accepts(model.ask, "system"):
            extra["system"] = system
        elif system:  # ask() takes no system text: it opens the question (docs/eval.md)
            question = f"{system}\n{question}"
        if sample.assistant_prefix and accepts(model.ask, "assistant_prefix"):
            extra["assistant_prefix"] = sample.assistant_prefix
        ans = model.ask(sample.video, question, max_new_tokens=sample.max_new_tokens, **extra)
    latency = time.perf_counter() - t0
    total = getattr(ans, "total_tokens", None)
    if total is None and sample.content is not None:
        ok = extra and accepts(model.count_tokens, "assistant_prefix")
        total = model.count_tokens(content, **(extra if ok else {}))
    return {
        "sample_id": sample.id,
        "prediction": ans.text,
        "assistant_prefix": extra.get("assistant_prefix"),  # None: the model was not given one
        "input_tokens": total,
        "visual_tokens": getattr(ans, "visual_tokens", None),
        "new_tokens": getattr(ans, "new_tokens", None),
        "frames": [list(f) for f in getattr(ans, "frames", []) or []],
        "latency_s": round(latency, 4),
        "timings": dict(getattr(ans, "timings", {}) or {}),
        "peak_memory_bytes": getattr(ans, "peak_memory_bytes", None),
        # hit: the video's prompt prefix came from the prefix cache; prefill: tokens computed
        "prefix_cache": (getattr(ans, "extra", None) or {}).get("prefix_cache"),
        "prefill_tokens": (getattr(ans, "extra", None) or {}).get("prefill_tokens"),
    }


def _subtitles(model: VisionLanguageModel, sample: Sample) -> Any:
    """The sample's subtitle track for ``model.ask(subtitles=)``; refused by models without it."""
    if not accepts(model.ask, "subtitles"):
        raise VlmctxError(f"{sample.id}: this model's ask() takes no subtitles; run without them")
    from vlmctx.video.subtitles import Subtitles

    return Subtitles.load(**sample.meta["subtitles"])


def done_ids(shard_dir: Path) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Merged view of every rank file: id -> last successful record (else last error)."""
    merged: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    for path in sorted(shard_dir.glob("rank*.jsonl")):
        records, bad = read_jsonl(path)
        problems += bad
        for rec in records:
            sid = rec.get("sample_id")
            if sid is None:
                problems.append(f"{path.name}: record without sample_id")
                continue
            if "error" not in rec or "error" in merged.get(sid, {"error": 1}):
                merged[str(sid)] = rec
    return merged, problems


def by_video(samples: list[Sample]) -> list[list[Sample]]:
    """Samples grouped by video, groups in the order their video first appears (samples without
    a video are groups of one), each group in the task's order."""
    groups: dict[Any, list[Sample]] = {}
    for s in samples:
        groups.setdefault(s.video if s.video is not None else ("id", s.id), []).append(s)
    return list(groups.values())


def generate(
    model: VisionLanguageModel, task: Task, samples: list[Sample], out: Path, opts: RunOptions
) -> None:
    """Predict this rank's share of ``samples`` that has no successful record yet."""
    par = opts.parallel
    shard_dir = out / "predictions" / task.name
    merged, _ = done_ids(shard_dir)
    # a video's questions stay on one rank and run back to back: the prefix cache then encodes
    # each video once (records stay one per sample, so a rerun still resumes sample by sample)
    mine = [
        s for i, group in enumerate(by_video(samples)) if i % par.world == par.rank for s in group
    ]
    todo = [s for s in mine if "error" in merged.get(s.id, {"error": 1})]
    log.info(
        "%s: %d samples, %d on rank %d, %d to do",
        task.name,
        len(samples),
        len(mine),
        par.rank,
        len(todo),
    )
    bar = progress(todo, f"{task.name} [rank {par.rank}]", opts.progress)
    with JsonlLog(shard_dir / f"rank{par.rank}.jsonl") as sink:
        for sample in bar:
            try:
                rec = predict_one(model, sample)
            except VlmctxError as exc:  # a bad video or an OOM fails one sample, not the run
                log.warning("%s: %s", sample.id, exc)
                rec = {"sample_id": sample.id, "error": f"{type(exc).__name__}: {exc}"}
            rec["rank"] = par.rank
            sink.append(rec)


# fields of a prediction record that scoring and the report read as numbers (or null)
NUMERIC_FIELDS = ("input_tokens", "visual_tokens", "new_tokens", "latency_s", "peak_memory_bytes")


def read_predictions(path: str) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """A rescoring file: JSONL records with ``sample_id`` (or ``id``) and ``prediction``.

    Records without an id or a string prediction, and duplicates, are reported and skipped; a
    file with no usable record, or a record whose measurements have the wrong type (``latency_s:
    "fast"``), is refused: its numbers would end up in the tables.
    """
    if not Path(path).exists():
        raise DataFormatError(f"predictions file {path!r} not found")
    records, problems = read_jsonl(path)
    errors = [{"source": path, "error": p} for p in problems]
    out: dict[str, dict[str, Any]] = {}
    for n, rec in enumerate(records, 1):
        sid = rec.get("sample_id", rec.get("id"))
        if sid is None or not isinstance(rec.get("prediction"), str):
            errors.append(
                {"source": f"{path}#{n}", "error": "needs sample_id and a string prediction"}
            )
            continue
        _check_types(path, n, rec)
        if str(sid) in out:
            errors.append({"source": f"{path}#{n}", "error": f"duplicate sample_id {sid!r}"})
            continue
        out[str(sid)] = {**rec, "sample_id": str(sid)}
    if not out:
        first = errors[0]["error"] if errors else "the file is empty"
        raise DataFormatError(
            f"no usable predictions in {path!r} ({first}); each line must be a JSON object with "
            '"sample_id" and a string "prediction"'
        )
    return out, errors


def _check_types(path: str, n: int, rec: dict[str, Any]) -> None:
    """Refuse a record whose measurements are not numbers (they would be averaged)."""
    for key in NUMERIC_FIELDS:
        value = rec.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise DataFormatError(
                f"{path} record {n}: {key} must be a number or null, got {value!r}; fix or "
                "drop the field"
            )
    if rec.get("frames") is not None and not isinstance(rec["frames"], list):
        raise DataFormatError(f"{path} record {n}: frames must be a list, got {rec['frames']!r}")


# ---- scoring and outputs -------------------------------------------------------------------------
def _sample_line(s: Sample, rec: dict[str, Any], sc: dict[str, Any], full: bool) -> dict[str, Any]:
    frames = rec.get("frames")
    return {
        "sample_id": s.id,
        "target": s.target,
        "input": s.summary(full),
        "prediction": rec.get("prediction"),
        "error": rec.get("error"),
        "scores": sc,
        "input_tokens": rec.get("input_tokens"),
        "visual_tokens": rec.get("visual_tokens"),
        "n_frames": len(frames) if isinstance(frames, list) else rec.get("n_frames"),
        "frames": frames,
        "latency_s": rec.get("latency_s"),
        "peak_memory_bytes": rec.get("peak_memory_bytes"),
        "meta": {k: v for k, v in s.meta.items() if k != "options"},
    }


def perf_breakdown(lines: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean latency, input tokens and peak memory per frame count (or per context length)."""
    acc: dict[str, dict[str, list[float]]] = {}
    for ln in lines:
        key = ln["n_frames"] or ln["meta"].get("length")
        if not key:
            continue
        for name, value in (
            ("latency_s", ln["latency_s"]),
            ("input_tokens", ln["input_tokens"]),
            ("peak_memory_gb", (ln["peak_memory_bytes"] or 0) / 2**30 or None),
        ):
            if value is not None:
                acc.setdefault(name, {}).setdefault(str(key), []).append(float(value))
    return {
        name: {k: sum(v) / len(v) for k, v in sorted(d.items(), key=lambda kv: int(kv[0]))}
        for name, d in acc.items()
    }


def score_task(
    task: Task, samples: list[Sample], records: dict[str, dict[str, Any]], out: Path, full: bool
) -> dict[str, Any]:
    """Score every sample that has a record, write ``samples_<task>.jsonl``, return results."""
    present = [s for s in samples if s.id in records]
    recs = []
    for s in present:
        rec = records[s.id]
        recs.append({**rec, "prediction": ""} if "error" in rec else rec)  # failed = empty answer
    scores = task.score(present, recs)
    lines = [
        _sample_line(s, records[s.id], sc, full) for s, sc in zip(present, scores, strict=True)
    ]
    text = "".join(json.dumps(ln, ensure_ascii=False, default=str) + "\n" for ln in lines)
    write_atomic(out / f"samples_{task.name}.jsonl", text)
    agg = task.aggregate(present, scores)
    agg.setdefault("breakdowns", {})
    export = getattr(task, "official_results", None)
    if export is not None and present:  # the file the benchmark's own scorer reads
        name, obj = export(present, recs)
        write_atomic(out / name, json.dumps(obj, indent=2, ensure_ascii=False, default=str))
    perf = perf_breakdown(lines)
    if perf:
        agg["breakdowns"]["perf"] = perf
    gen_errors = [
        {"sample_id": s.id, "error": records[s.id]["error"]}
        for s in present
        if "error" in records[s.id]
    ]
    score_errors = [
        {"sample_id": s.id, "error": sc["error"]}
        for s, sc in zip(present, scores, strict=True)
        if "error" in sc
    ]
    return {
        **agg,
        "intervals": headline(task, present, scores, agg),
        "strata": per_stratum(task, present, scores, lines),
        "task": task.describe(),
        "version": task.version,
        "n_samples": len(samples),
        "n_predicted": len(present),
        "n_missing": len(samples) - len(present),
        "n_generation_errors": len(gen_errors),
        "generation_errors": gen_errors,
        "n_scoring_errors": len(score_errors),
        "scoring_errors": score_errors,
    }


def _load(task: Task, opts: RunOptions) -> LoadResult:
    """The task's samples, then the stratified ``--limit`` the runner takes of them."""
    par = opts.parallel
    loaded = task.load(opts.lengths) if par.rank == 0 else None
    par.barrier()  # rank 0 first: a task may generate its data (V-NIAH) on first use
    loaded = loaded if loaded is not None else task.load(opts.lengths)
    loaded.available = {s.id for s in loaded.samples}
    chosen = select(
        task.name, loaded.samples, task.strata, opts.limit, opts.limit_per_stratum, opts.seed
    )
    loaded.samples = chosen.samples
    loaded.selection = chosen.plan
    return loaded


def load_tasks(tasks: dict[str, Task], opts: RunOptions) -> dict[str, LoadResult]:
    """Every task's samples as the run will take them (a too small ``--limit`` is refused here,
    before any model loads); pass the result to :func:`evaluate` as ``loads``."""
    return {name: _load(task, opts) for name, task in tasks.items()}


def evaluate(
    model: VisionLanguageModel | None,
    tasks: dict[str, Task],
    out: Path,
    opts: RunOptions,
    header: dict[str, Any],
    predictions: str | None = None,
    loads: dict[str, LoadResult] | None = None,
) -> dict[str, Any] | None:
    """Run (or rescore) ``tasks``; rank 0 returns the results dict written to results.json."""
    par = opts.parallel
    if model is None and predictions is None and opts.predict is None:
        raise VlmctxError("nothing to evaluate: give a model or --predictions FILE.jsonl")
    pred_map, pred_errors = read_predictions(predictions) if predictions else (None, [])
    loads = loads if loads is not None else load_tasks(tasks, opts)
    if pred_map is None:  # never add predictions to a folder holding another task's or data's
        for name, task in tasks.items():
            ident = task_identity(task, loads[name].samples)
            check_identity(out / "predictions" / name, ident, write=True)
    out.mkdir(parents=True, exist_ok=True)
    if par.rank == 0:
        write_atomic(out / "run.json", json.dumps(header, indent=2, default=str))
    known: set[str] = set()
    results: dict[str, Any] = {}
    for name, task in tasks.items():
        loaded = loads[name]
        known.update(loaded.available or {s.id for s in loaded.samples})  # left out by --limit
        if pred_map is None:
            if opts.predict is not None:
                opts.predict(task, loaded.samples, out, opts)
            else:
                assert model is not None
                generate(model, task, loaded.samples, out, opts)
            par.barrier()
        if par.rank != 0:
            continue
        if pred_map is None:
            records, problems = done_ids(out / "predictions" / name)
        else:
            records, problems = {k: v for k, v in pred_map.items() if k in known}, []
        res = score_task(task, loaded.samples, records, out, opts.log_samples)
        res["data_errors"] = loaded.errors + [
            {"source": "predictions", "error": p} for p in problems
        ]
        res["n_data_errors"] = len(res["data_errors"])
        res["selection"] = loaded.selection
        results[name] = res
        _log_summary(name, res)
    if par.rank != 0:
        return None
    if pred_map is not None:
        pred_errors += [
            {"source": predictions, "error": f"unknown sample_id {k!r}"}
            for k in pred_map
            if k not in known
        ]
    doc = {
        **header,
        "schema": SCHEMA_VERSION,
        "results": results,
        "predictions_errors": pred_errors,
    }
    write_atomic(out / "results.json", json.dumps(doc, indent=2, default=str))
    return doc


def _log_summary(name: str, res: dict[str, Any]) -> None:
    primary = res.get("primary", "")
    value = res.get("scores", {}).get(primary)
    bad = res["n_data_errors"] + res["n_generation_errors"] + res["n_scoring_errors"]
    log.info(
        "%s: %s = %s over %d samples (%d missing, %d malformed/failed)",
        name,
        primary,
        "undefined on these samples" if value is None else f"{value:.2f}",
        res["n_predicted"],
        res["n_missing"],
        bad,
    )


def accepts(fn: Callable[..., Any], name: str) -> bool:
    """Whether ``fn`` takes a keyword ``name`` (optional features of a model's API)."""
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
