"""`vlmctx eval` data parallel under `accelerate launch` with two CPU processes and a real tiny
model: samples sharded by rank, each scored exactly once, results gathered on rank 0, resumable.

`accelerate launch --cpu --num_processes 2` starts ONE process (its CPU path is the single-process
launcher unless MPI is configured with --mpirun_hostfile), so two CPU processes are launched
with `--multi_gpu` (torchrun underneath) and no visible GPU; vlmctx_eval.cli then asks accelerate
for a CPU (gloo) group. Two launches of two processes took 46 s on the shared 2-core machine.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _launch(root: Path, out: Path) -> subprocess.CompletedProcess:
    port = _free_port()
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu",
           "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
           "--dynamo_backend", "no", "--main_process_port", str(port),
           "-m", "vlmctx.cli", "eval", "--model", "tiny-qwen2_vl", "--tasks", "mmlongbench",
           "--task-arg", f"mmlongbench:root={root}",
           "--task-arg", "mmlongbench:datasets=infoseek,vh_single,cars196",
           "--output-path", str(out), "--no-progress"]  # fmt: skip
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


# slow (issue 25, suite time): two launches of two torchrun ranks, ~46 s of the default suite's ~162 s
# of multi-process tests. The default run keeps the same launcher and CPU (gloo) group path, with
# a torn-record resume, in tests/pipelines/test_batch_accelerate.py, and eval's kill-and-resume in
# tests/eval/test_end_to_end.py; this one (eval's rank sharding and gather) runs with `-m slow`.
@pytest.mark.slow
def test_two_cpu_processes_shard_score_once_gather_on_rank0_and_resume(mmlb, tmp_path: Path):
    root, _ = mmlb
    out = tmp_path / "runs"
    proc = _launch(root, out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("results:") == 1  # only rank 0 scores and writes results
    [run_dir] = list(out.iterdir())
    doc = json.loads((run_dir / "results.json").read_text())
    res = doc["results"]["mmlongbench"]
    assert doc["world_size"] == 2
    n = res["n_samples"]  # infoseek 2 + vh_single 4 + cars196 2 = 8 at 8K
    assert n == 8 and res["n_predicted"] == n and res["n_missing"] == 0
    shards = {r: _jsonl(run_dir / "predictions" / "mmlongbench" / f"rank{r}.jsonl") for r in (0, 1)}
    samples = _jsonl(run_dir / "samples_mmlongbench.jsonl")
    order = [s["sample_id"] for s in samples]  # official order, as scored on rank 0
    assert len(order) == len(set(order)) == n  # each sample scored exactly once
    for r, recs in shards.items():  # sample i went to rank i % 2, and nowhere else
        assert [x["sample_id"] for x in recs] == order[r::2]
        assert all(x["rank"] == r and isinstance(x["prediction"], str) for x in recs)
    assert {x["assistant_prefix"] for recs in shards.values() for x in recs} == {"Answer:",
                                                                                 "label:"}  # fmt: skip

    # resume: drop the last record of rank 1 (as if killed), rerun: only that sample is redone
    lost = shards[1][-1]["sample_id"]
    f1 = run_dir / "predictions" / "mmlongbench" / "rank1.jsonl"
    f1.write_text("".join(json.dumps(x) + "\n" for x in shards[1][:-1]))
    proc = _launch(root, out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _jsonl(run_dir / "predictions" / "mmlongbench" / "rank0.jsonl") == shards[0]
    again = _jsonl(f1)
    assert [x["sample_id"] for x in again] == [x["sample_id"] for x in shards[1]]
    assert again[-1]["sample_id"] == lost
    samples2 = _jsonl(run_dir / "samples_mmlongbench.jsonl")
    assert [s["sample_id"] for s in samples2] == order
    res2 = json.loads((run_dir / "results.json").read_text())["results"]["mmlongbench"]
    assert res2["n_predicted"] == n and res2["n_missing"] == 0
