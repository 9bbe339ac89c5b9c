"""`vlmctx batch` under `accelerate launch` with two CPU processes: two real ranks (a gloo process
group) share the videos through the file queue; every item is answered exactly once, the one
output file is complete, and a rerun after losing records (and a torn tail) finishes only what is
missing. About 45 s on the 2-core CI machine, so it runs by default (not marked slow).

The launch is `accelerate launch --multi_gpu --num_processes 2 ... --device cpu`: in accelerate
1.15 `--cpu --num_processes 2` starts *one* process unless an MPI hostfile is given
(`--mpirun_hostfile`; its simple launcher runs multi-CPU jobs only through mpirun), whereas
`--multi_gpu` starts the ranks with torchrun, and the batch job joins them in a gloo group on CPU.
"""

from __future__ import annotations

import json
import socket
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.pipelines.conftest import TINY, make_videos, run_batch_cli

pytest.importorskip("accelerate", reason="needs accelerate (pip install accelerate)")

QUESTIONS = ("What happens?", "What colour is the square?")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _launch(folder: Path, out: Path) -> list[str]:
    """accelerate's launcher as a module (same as the `accelerate launch` script)."""
    return [
        sys.executable, "-m", "accelerate.commands.launch",
        "--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
        "--dynamo_backend", "no", "--main_process_port", str(_free_port()),
        "-m", "vlmctx_pipelines.batch.cli", str(folder), "-o", str(out),
        *(a for q in QUESTIONS for a in ("-q", q)),
        "--model", TINY, "--device", "cpu", "--frames", "4", "--max-new-tokens", "4",
        "--decode-workers", "1", "--torch-threads", "1", "--no-progress",
        "--summary-json", str(out.with_suffix(".summary.json")),
    ]  # fmt: skip


def _records(out: Path) -> list[dict]:
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_two_cpu_ranks_answer_each_item_once_and_resume(tmp_path: Path) -> None:
    videos = make_videos(tmp_path / "videos", [50, 20, 40, 30, 25, 45])
    expected = {(str(v), q) for v in videos for q in QUESTIONS}
    out = tmp_path / "out.jsonl"

    proc = run_batch_cli(*_launch(tmp_path / "videos", out), timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    recs = _records(out)
    counts = Counter(r["id"] for r in recs)
    assert max(counts.values()) == 1, [k for k, n in counts.items() if n > 1]
    assert {(r["video"], r["question"]) for r in recs} == expected
    assert all(r["error"] is None and r["answer"] is not None for r in recs)
    assert {r["rank"] for r in recs} == {0, 1}, "both ranks should have claimed videos"
    by_video = {r["video"]: set() for r in recs}
    for r in recs:
        by_video[r["video"]].add(r["rank"])
    assert all(len(ranks) == 1 for ranks in by_video.values()), "a video decoded on two ranks"
    summary = json.loads(out.with_suffix(".summary.json").read_text())
    assert (summary["done"], summary["failed"], summary["ranks"]) == (len(expected), 0, 2)
    assert not Path(f"{out}.queue").exists()

    # lose the last records and leave a torn half record, as a kill mid-write would
    lines = out.read_text().splitlines(keepends=True)
    kept = lines[:5]
    out.write_text("".join(kept) + lines[5][: len(lines[5]) // 2])
    proc = run_batch_cli(*_launch(tmp_path / "videos", out), timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    recs2 = _records(out)
    assert [json.dumps(r) for r in recs2[:5]] == [json.dumps(json.loads(x)) for x in kept]
    counts2 = Counter(r["id"] for r in recs2)
    assert max(counts2.values()) == 1 and set(counts2) == set(counts)
    summary = json.loads(out.with_suffix(".summary.json").read_text())
    assert (summary["skipped"], summary["done"]) == (5, len(expected) - 5)

    # a third run has nothing left to do
    proc = run_batch_cli(*_launch(tmp_path / "videos", out), timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(_records(out)) == len(expected)
    summary = json.loads(out.with_suffix(".summary.json").read_text())
    assert (summary["skipped"], summary["done"]) == (len(expected), 0)
