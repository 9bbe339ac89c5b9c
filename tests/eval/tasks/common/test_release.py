"""Shared release-folder helpers: stratified limits; a missing release folder is a clear error
for every official benchmark."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.eval.conftest import cli, write_preds
from vlmctx.errors import ConfigError
from vlmctx_eval.tasks.common.release import stratified


def test_stratified_limit_takes_buckets_in_turn():
    from vlmctx_eval.harness.records import Sample

    s = [Sample(str(i), "A", meta={"bucket": b}) for i, b in enumerate("sssssmmlll")]
    assert [x.id for x in stratified(s, 5)] == ["0", "1", "5", "6", "7"]  # s,m,l,s,m (m: 2 only)
    assert [x.id for x in stratified(s, 7)] == ["0", "1", "2", "5", "6", "7", "8"]
    assert stratified(s, None) == s


def test_missing_folders_are_clear_errors(tmp_path: Path, capsys):
    for task in ("videomme", "mlvu", "longvideobench", "lvbench", "charades_sta"):
        with pytest.raises(ConfigError, match=f"{task}: .*not found"):
            cli(["eval", "--tasks", task, "--task-arg", f"{task}:root={tmp_path / 'nope'}",
                 "--predictions", str(write_preds(tmp_path / "p.jsonl", {})),
                 "--output-path", str(tmp_path / "out")])  # fmt: skip
