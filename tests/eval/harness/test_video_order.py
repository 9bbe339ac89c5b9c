"""`vlmctx eval` asks a video's questions back to back (the prefix cache then encodes each video
once), on one rank, and still resumes sample by sample.

The model is a recorder of the order it is asked in: it only exercises the runner's bookkeeping
(the real prefix-cache hits are tested in tests/engine/test_prefix_cache.py)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from vlmctx_eval.harness.records import Sample
from vlmctx_eval.harness.runner import Parallel, RunOptions, by_video, generate

VIDEOS = ["a.mp4", "b.mp4", "a.mp4", None, "c.mp4", "b.mp4", "a.mp4"]


def _samples() -> list[Sample]:
    return [Sample(id=f"s{i}", target="A", video=v, question="q?") for i, v in enumerate(VIDEOS)]


class Recorder:
    model_id = "recorder"

    def __init__(self) -> None:
        self.asked: list[str] = []

    def ask(self, video, question, *, max_new_tokens=64):
        self.asked.append(video)
        return SimpleNamespace(text="A", extra={"prefix_cache": "miss", "prefill_tokens": 9})


def test_by_video_groups_in_first_appearance_order() -> None:
    groups = [[s.id for s in g] for g in by_video(_samples())]
    assert groups == [["s0", "s2", "s6"], ["s1", "s5"], ["s3"], ["s4"]]


def test_generate_orders_by_video_shards_by_video_and_resumes(tmp_path: Path) -> None:
    task = SimpleNamespace(name="t")
    model = Recorder()
    out = tmp_path / "run"
    generate(model, task, _samples(), out, RunOptions(progress=False))
    assert model.asked == ["a.mp4"] * 3 + ["b.mp4"] * 2 + [None, "c.mp4"]
    lines = (out / "predictions" / "t" / "rank0.jsonl").read_text().splitlines()
    recs = [json.loads(line) for line in lines]
    assert [r["sample_id"] for r in recs] == ["s0", "s2", "s6", "s1", "s5", "s3", "s4"]
    assert recs[0]["prefix_cache"] == "miss" and recs[0]["prefill_tokens"] == 9
    again = Recorder()  # a rerun finds every sample done
    generate(again, task, _samples(), out, RunOptions(progress=False))
    assert again.asked == []
    ranks = []
    for rank in (0, 1):  # two ranks: a video's samples all on one of them
        rec = Recorder()
        opts = RunOptions(progress=False, parallel=Parallel(rank=rank, world=2))
        generate(rec, task, _samples(), tmp_path / f"r{rank}", opts)
        ranks.append(rec.asked)
    assert ranks == [["a.mp4"] * 3 + [None], ["b.mp4"] * 2 + ["c.mp4"]]
