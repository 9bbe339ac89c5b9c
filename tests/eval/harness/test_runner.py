"""Runner mechanics: resume after a kill, torn lines, sharding by rank, report on outputs.

The model here is a deterministic rule object implementing the runner's Protocol. It is NOT a
stand-in for a real model and supports no end-to-end claim; it only exercises the bookkeeping
(what is written, skipped, merged). End-to-end runs with the tiny real models live elsewhere.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.eval.conftest import cli
from vlmctx_eval.harness.runner import Parallel, RunOptions, VisionLanguageModel, evaluate
from vlmctx_eval.tasks.mmlongbench import MMLongBench


class RuleModel:
    """Answers "Answer: Paris" to everything; raises KeyboardInterrupt at call ``die_at``."""

    model_id = "rule-model"

    def __init__(self, die_at: int | None = None) -> None:
        self.calls = 0
        self.die_at = die_at

    def _answer(self, text: str) -> SimpleNamespace:
        self.calls += 1
        if self.die_at is not None and self.calls >= self.die_at:
            raise KeyboardInterrupt
        return SimpleNamespace(text=text, frames=[], visual_tokens=4, total_tokens=100,
                               timings={}, peak_memory_bytes=1 << 20)  # fmt: skip

    def chat(self, content, *, max_new_tokens=64):
        assert all(isinstance(c, str) or c.size == (8, 8) for c in content)  # images opened
        return self._answer("Answer: Paris")

    def ask(self, video, question, *, max_new_tokens=64):
        return self._answer("B")

    def count_tokens(self, content):
        return 100

    def info(self):
        return {"model": self.model_id}


def _run(task, out: Path, model, par: Parallel | None = None):
    opts = RunOptions(lengths=[8], progress=False, parallel=par or Parallel())
    return evaluate(model, {"mmlongbench": task}, out, opts, {"model": "rule-model"})


def test_protocol_is_structural():
    assert isinstance(RuleModel(), VisionLanguageModel)


def test_resume_after_kill_and_torn_line(mmlb, tmp_path):
    root, _ = mmlb
    task = MMLongBench(str(root), datasets="infoseek,vh_single")  # 2 + 4 samples
    with pytest.raises(KeyboardInterrupt):
        _run(task, tmp_path, RuleModel(die_at=4))
    shard = tmp_path / "predictions" / "mmlongbench" / "rank0.jsonl"
    assert len(shard.read_text().splitlines()) == 3
    with open(shard, "a") as fh:
        fh.write('{"sample_id": "vh_single/K8/1", "predic')  # torn by a kill mid-write
    model = RuleModel()
    doc = _run(task, tmp_path, model)
    assert model.calls == 3  # only what was missing
    res = doc["results"]["mmlongbench"]
    assert res["n_predicted"] == 6 and res["n_missing"] == 0
    assert any("torn" in e["error"] for e in res["data_errors"])
    ids = [json.loads(x)["sample_id"] for x in (tmp_path / "samples_mmlongbench.jsonl").open()]
    assert len(ids) == len(set(ids)) == 6
    assert res["breakdowns"]["datasets"]["infoseek"]["8k"] == 50.0  # Paris right, Babbage wrong
    again = RuleModel()
    _run(task, tmp_path, again)
    assert again.calls == 0


def test_two_ranks_split_then_rank0_merges(mmlb, tmp_path):
    root, _ = mmlb
    task = MMLongBench(str(root), datasets="vh_single")
    m1, m0 = RuleModel(), RuleModel()
    assert _run(task, tmp_path, m1, Parallel(rank=1, world=2)) is None
    doc = _run(task, tmp_path, m0, Parallel(rank=0, world=2))
    assert (m0.calls, m1.calls) == (2, 2)
    assert doc["results"]["mmlongbench"]["n_predicted"] == 4
    assert sorted(p.name for p in (tmp_path / "predictions" / "mmlongbench").iterdir()) == [
        "identity.json",  # task arguments and data fingerprints (eval/harness/run_identity.py)
        "rank0.jsonl",
        "rank1.jsonl",
    ]


def test_generation_errors_are_recorded_and_retried(mmlb, tmp_path):
    from vlmctx.errors import VideoDecodeError

    class Flaky(RuleModel):
        def chat(self, content, *, max_new_tokens=64):
            if self.calls == 0:
                self.calls += 1
                raise VideoDecodeError("broken input")
            return super().chat(content, max_new_tokens=max_new_tokens)

    root, _ = mmlb
    task = MMLongBench(str(root), datasets="infoseek")
    doc = _run(task, tmp_path, Flaky())
    res = doc["results"]["mmlongbench"]
    assert (
        res["n_generation_errors"] == 1 and "broken input" in res["generation_errors"][0]["error"]
    )
    retry = RuleModel()
    doc = _run(task, tmp_path, retry)
    assert retry.calls == 1 and doc["results"]["mmlongbench"]["n_generation_errors"] == 0


def test_report_compares_runs(mmlb, tmp_path):
    root, preds = mmlb
    pf = tmp_path / "p.jsonl"
    half = {k: v for i, (k, v) in enumerate(sorted(preds.items())) if i % 2 == 0}
    for frames, p in (("8", preds), ("16", half)):
        pf.write_text(
            "".join(json.dumps({"sample_id": k, "prediction": v}) + "\n" for k, v in p.items())
        )
        argv = ["eval", "--tasks", "mmlongbench", "--task-arg", f"mmlongbench:root={root}",
                "--predictions", str(pf), "--output-path", str(tmp_path / "runs"),
                "--frames", frames, "--no-progress"]  # fmt: skip
        assert cli(argv) == 0
    out = tmp_path / "report"
    assert (
        cli(["report", str(tmp_path / "runs"), "--format", "md,csv,html", "--output", str(out)])
        == 0
    )
    md = (out / "report.md").read_text()
    assert "| task | score | n=16 | n=8 |" in md or "| task | score | n=8 | n=16 |" in md
    assert "79.33" in md  # the full run's Avg@8k
    assert (out / "plot_mmlongbench_by_length.png").stat().st_size > 1000
    assert "<table>" in (out / "report.html").read_text()
    assert "Avg@8k" in (out / "report.csv").read_text()
