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

    def error(self, source: str, message: str) -> None:
        self.errors.append({"source": source, "error": message})


class Task(ABC):
    """A benchmark: load samples, score predictions, aggregate."""

    name: ClassVar[str] = ""  # a registered task's is set by TASKS.register
    version: str = "0"

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


TASKS: Registry[Task] = Registry("task")


def mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None
