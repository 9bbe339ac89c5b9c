"""``vlmctx eval`` never ends a run with ``n/a`` and exit 0: a task with nothing scored, or with
predictions whose scoring failed (no score computed), is a one-line error (exit 2). A primary score
that is undefined on a subset (MMLongBench's Avg@8k under --limit) while others were computed is
not an error: the line says "undefined on these samples" and the other scores are in the files."""

from pathlib import Path

import pytest

from vlmctx.errors import DataFormatError
from vlmctx_eval.cli import check_scored

PATH = Path("run/results.json")


def test_scored_task_passes() -> None:
    check_scored({"t": {"primary": "acc", "scores": {"acc": 50.0}, "n_predicted": 2}}, PATH)


def test_nothing_predicted_is_an_error() -> None:
    res = {"primary": "acc", "scores": {}, "n_predicted": 0, "n_samples": 3}
    with pytest.raises(DataFormatError, match="t: nothing was scored .*0/3 predicted"):
        check_scored({"t": res}, PATH)


def test_predictions_without_any_score_are_an_error() -> None:
    res = {"primary": "judge_score", "scores": {}, "n_predicted": 4, "n_scoring_errors": 4}
    with pytest.raises(DataFormatError, match="4 predictions but no score could be computed"):
        check_scored({"t": res}, PATH)


def test_primary_undefined_on_a_subset_is_not_an_error() -> None:
    res = {"primary": "Avg@8k", "scores": {"Avg@8k": None, "nqa@8k": 40.0}, "n_predicted": 2}
    check_scored({"t": res}, PATH)
