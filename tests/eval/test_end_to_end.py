"""`vlmctx eval` with a real tiny model over fixture data for every task, then `vlmctx report`;
a SIGKILL mid-run followed by a rerun loses and duplicates nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.eval.conftest import cli
from tests.eval.tasks.longvideo_mcq.test_task import OPTS


def _mcq_file(root: Path) -> Path:
    from vlmctx.runtime.assets import sample_video

    recs = [
        {"id": f"m{i}", "video": str(sample_video()), "question": q, "options": OPTS,
         "answer": "ABCD"[i % 4], "duration": 12}
        for i, q in enumerate(["What is red?", "What appears late?", "Where is the ball?"])
    ]  # fmt: skip
    f = root / "mcq.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return f


def _eval_args(mmlb_root: Path, tmp: Path, out: Path) -> list[str]:
    return [
        "eval", "--model", "tiny-qwen2_vl", "--tasks", "mmlongbench,longvideo_mcq,vniah",
        "--task-arg", f"mmlongbench:root={mmlb_root}",
        "--task-arg", "mmlongbench:datasets=infoseek,vh_single",
        "--task-arg", f"longvideo_mcq:file={_mcq_file(tmp)}",
        "--task-arg", f"vniah:dir={tmp / 'vniah'}", "--task-arg", "vniah:frames=8,16",
        "--task-arg", "vniah:depths=0,1", "--task-arg", "vniah:size=64",
        "--frames", "8", "--output-path", str(out), "--no-progress",
    ]  # fmt: skip


def _results(out: Path) -> tuple[dict, Path]:
    [res] = list(out.rglob("results.json"))
    return json.loads(res.read_text()), res.parent


def test_every_task_end_to_end_with_a_tiny_model_then_report(mmlb, tmp_path: Path) -> None:
    root, _ = mmlb
    out = tmp_path / "runs"
    assert cli(_eval_args(root, tmp_path, out)) == 0
    doc, run_dir = _results(out)
    assert set(doc["results"]) == {"mmlongbench", "longvideo_mcq", "vniah"}
    assert doc["results"]["vniah"]["n_predicted"] == 4  # 2 lengths x 2 depths
    assert doc["results"]["longvideo_mcq"]["n_predicted"] == 3
    samples = [json.loads(x) for x in (run_dir / "samples_vniah.jsonl").open()]
    assert all(s["input_tokens"] > 0 and s["latency_s"] > 0 for s in samples)
    assert doc["config"]["sampler_params"] == {"n": 8}
    assert cli(["report", str(out), "--format", "md,csv"]) == 0
    reports = list(out.rglob("*.md"))
    assert reports and "vniah" in "".join(p.read_text() for p in reports)


def test_sigkill_mid_run_then_rerun_loses_and_duplicates_nothing(mmlb, tmp_path: Path) -> None:
    root, _ = mmlb
    out = tmp_path / "runs"
    cmd = [sys.executable, "-m", "vlmctx.cli", *_eval_args(root, tmp_path, out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=dict(os.environ))  # fmt: skip
    deadline = time.time() + 240
    written = 0
    while time.time() < deadline and proc.poll() is None:
        written = sum(len(p.read_text().splitlines()) for p in out.rglob("rank0.jsonl"))
        if written >= 3:
            break
        time.sleep(0.05)
    if proc.poll() is not None:
        pytest.fail("the run finished before it could be killed; the fixture is too small")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert written >= 3
    assert subprocess.run(cmd, capture_output=True, timeout=600).returncode == 0
    doc, run_dir = _results(out)
    for task, res in doc["results"].items():
        ids = [json.loads(x)["sample_id"] for x in (run_dir / f"samples_{task}.jsonl").open()]
        assert len(ids) == len(set(ids)) == res["n_predicted"], task
        assert res["n_missing"] == 0, task
