"""``vlmctx eval`` never ends a run with ``n/a`` and exit 0: a task with nothing scored, or with
predictions but no primary score, is a one-line error (exit 2)."""

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


def test_predictions_without_a_primary_score_are_an_error() -> None:
    res = {"primary": "judge_score", "scores": {"judge_score": None}, "n_predicted": 4}
    with pytest.raises(DataFormatError, match="4 predictions but no judge_score"):
        check_scored({"t": res}, PATH)
