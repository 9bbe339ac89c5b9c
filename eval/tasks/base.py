"""The task interface every benchmark implements, and the ``TASKS`` registry.

Modelled on lm-evaluation-harness / lmms-eval task folders: a task loads its samples in the
benchmark's official order (:meth:`Task.load`), scores each prediction (:meth:`Task.score_one`, called by
:meth:`Task.score`, which owns the loop over samples and records: a sample without a prediction
gets ``{}``) and aggregates per-sample scores into results (:meth:`Task.aggregate`). A task whose
official metric depends on evaluation order (MMLongBench's yes/no default cycle) overrides
``score`` to prepare that state and then calls the base loop.

``aggregate`` returns ``{"scores": {name: value}, "breakdowns": {name: {row: {col: value}}},
"primary": name}``; the report renders ``scores`` side by side across runs and each breakdown as a
table; breakdowns named ``by_length`` and ``by_frames`` become line plots, ``grid`` a heatmap.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from vlmctx.registry import Registry
from vlmctx_eval.harness.records import Sample


@dataclass
class LoadResult:
    """Samples in official order plus malformed records (reported, never silently dropped)."""

    samples: list[Sample] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    selection: dict[str, Any] = field(default_factory=dict)  # the runner's stratified --limit
    available: set[str] = field(default_factory=set)  # every sample id, before the limit

    def error(self, source: str, message: str) -> None:
        self.errors.append({"source": source, "error": message})


class Task(ABC):
    """A benchmark: load samples, score predictions, aggregate."""

    name: ClassVar[str] = ""  # a registered task's is set by TASKS.register
    version: str = "0"
    # sample.meta keys the report breaks results down by (see strata()); () = one stratum
    strata_keys: ClassVar[tuple[str, ...]] = ()
    # the per-sample score behind the per-stratum tables (None: the primary score, else acc or
    # exact_match, whichever the sample has); chance: its value for a random answer, in %
    sample_metric: ClassVar[str | None] = None
    chance_pct: ClassVar[float | None] = None
    generates_data: ClassVar[bool] = False  # True: the data are made on first use (data_dir)

    @abstractmethod
    def load(self, lengths: list[int] | None = None, limit: int | None = None) -> LoadResult:
        """Samples in evaluation order; ``lengths`` (in K tokens) selects files where it applies."""

    def score(self, samples: list[Sample], records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Per-sample metrics, in order; ``records[i]`` holds ``prediction`` for ``samples[i]``.

        A record without a prediction scores ``{}`` (not scored, left out of the aggregates);
        every other one goes to :meth:`score_one`.
        """
        return [
            {} if rec.get("prediction") is None else self.score_one(s, rec)
            for s, rec in zip(samples, records, strict=True)
        ]

    @abstractmethod
    def score_one(self, sample: Sample, record: dict[str, Any]) -> dict[str, Any]:
        """Metrics of one prediction (``record["prediction"]`` is not None); a scoring failure
        is returned as ``{"error": message}`` and counted by the runner, never raised."""

    @abstractmethod
    def aggregate(self, samples: list[Sample], scores: list[dict[str, Any]]) -> dict[str, Any]:
        """Results: ``scores``, ``breakdowns`` and the name of the ``primary`` score."""

    def describe(self) -> dict[str, Any]:
        """Task parameters written into the results file."""
        return {"name": self.name, "version": self.version}

    def strata(self, sample: Sample) -> dict[str, str]:
        """What the report breaks results down by, for one sample (dimension -> level).

        The runner's stratified ``--limit`` covers every level of every dimension
        (eval/harness/strata.py), and the report gives each dimension a table with intervals and
        counts. The default reads :attr:`strata_keys` from ``sample.meta`` (a list value, such as
        LVBench's several question types, is stratified by its first item).
        """
        out = {}
        for key in self.strata_keys:
            value = sample.meta.get(key)
            if isinstance(value, list | tuple):
                value = value[0] if value else None
            out[key] = str(value)
        return out

    def sample_value(self, sample: Sample, scores: dict[str, Any]) -> float | None:
        """The per-sample number the per-stratum tables average (0/1 for right/wrong), or None
        when the sample was not scored."""
        for key in (self.sample_metric, "acc", "exact_match"):
            if key is not None and isinstance(scores.get(key), int | float):
                return float(scores[key])
        return None

    def chance(self, samples: list[Sample]) -> float | None:
        """The sample metric's expected value (%) for a random answer: the mean of 1/options for
        multiple choice (``meta["options"]``), else :attr:`chance_pct` (None: not defined)."""
        opts = [len(s.meta["options"]) for s in samples if s.meta.get("options")]
        if opts and len(opts) == len(samples):
            return 100.0 * sum(1 / n for n in opts) / len(opts)
        return self.chance_pct


TASKS: Registry[Task] = Registry("task")


def generated_dir(task: str, args: dict[str, Any]) -> str:
    """Default folder of a task that generates its data: ``<cache>/eval/<task>/<12 hex of its
    generation arguments>`` (``$VLMCTX_CACHE`` or ``~/.cache/vlmctx``), so other arguments get
    another folder instead of a refusal, and the same ones reuse the set."""
    import hashlib
    import json

    from vlmctx.runtime.cache import cache_root

    key = hashlib.sha256(json.dumps(args, sort_keys=True).encode()).hexdigest()[:12]
    return str(cache_root() / "eval" / task / key)


def mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None
