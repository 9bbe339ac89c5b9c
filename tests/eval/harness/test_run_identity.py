"""A run's identity is model + ContextConfig + task arguments + data (issue 13, part 4).

Before, the run folder was keyed by model and config only: the toylab task with seed 1 into the
output path of a seed-0 run reused the seed-0 predictions (the same sample ids) and reported a
wrong score. These tests run the shipped ``toylab`` model for real (one 16-frame question per
seed), and check the temporary files a killed data generation leaves behind.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from vlmctx.cli import main
from vlmctx_eval.harness.records import read_jsonl, remove_stale_parts
from vlmctx_eval.tasks.toylab import task as toylab_task


def _eval(capsys: pytest.CaptureFixture[str], data: Path, out: Path, seed: int) -> tuple[int, str]:
    code = main([
        "eval", "--model", "toylab", "--tasks", "toylab", "--no-progress", "--fps", "1",
        "--task-arg", f"toylab:dir={data}", "--task-arg", "toylab:frames=16",
        "--task-arg", "toylab:kinds=ball,count", "--task-arg", "toylab:per_cell=1",
        "--task-arg", f"toylab:seed={seed}", "--output-path", str(out),
    ])  # fmt: skip
    return code, capsys.readouterr().err


def _samples(run: Path) -> dict[str, dict]:
    return {r["sample_id"]: r for r in read_jsonl(run / "samples_toylab.jsonl")[0]}


def test_other_task_arguments_start_a_new_run_and_changed_data_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert _eval(capsys, tmp_path / "s0", out, 0)[0] == 0
    assert _eval(capsys, tmp_path / "s1", out, 1)[0] == 0
    runs = sorted(out.iterdir())
    assert len(runs) == 2, runs  # seed 1 did not resume into seed 0's folder
    by_seed = {json.loads((r / "results.json").read_text())["results"]["toylab"]["task"]["seed"]:
               r for r in runs}  # fmt: skip
    for seed, run in by_seed.items():
        gold = {r["id"]: r["answer"] for r in read_jsonl(tmp_path / f"s{seed}" / "toylab.jsonl")[0]}
        got = _samples(run)
        assert {k: v["target"] for k, v in got.items()} == gold  # scored against its own data
        preds = read_jsonl(run / "predictions" / "toylab" / "rank0.jsonl")[0]
        assert sorted(p["sample_id"] for p in preds) == sorted(gold)  # one prediction each
    assert _samples(by_seed[0]).keys() == _samples(by_seed[1]).keys()  # same ids, other data
    # the same arguments over data changed on disk: refused, the old predictions untouched
    index = tmp_path / "s0" / "toylab.jsonl"
    recs = read_jsonl(index)[0]
    recs[0]["answer"] = "purple" if recs[0]["answer"] != "purple" else "orange"
    index.write_text("".join(json.dumps(r) + "\n" for r in recs))
    before = (by_seed[0] / "predictions" / "toylab" / "rank0.jsonl").read_bytes()
    code, err = _eval(capsys, tmp_path / "s0", out, 0)
    assert code == 2 and "changed since their predictions" in err.strip().splitlines()[-1], err
    assert (by_seed[0] / "predictions" / "toylab" / "rank0.jsonl").read_bytes() == before


def test_predictions_without_an_identity_are_not_resumed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder from before identities existed: its predictions cannot be checked, so refuse."""
    out = tmp_path / "out"
    assert _eval(capsys, tmp_path / "s0", out, 0)[0] == 0
    (run,) = out.iterdir()
    (run / "predictions" / "toylab" / "identity.json").unlink()
    code, err = _eval(capsys, tmp_path / "s0", out, 0)
    assert code == 2 and "older vlmctx" in err and str(run) in err, err


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stray_temporary_files_of_a_killed_generation_are_removed(tmp_path: Path) -> None:
    videos = tmp_path / "videos"
    videos.mkdir(parents=True)
    dead = videos / f"ball-0016-000.mp4.{_dead_pid()}-0123abcd.part"
    old_style = videos / "ball-0016-001.tmp8f3a.mp4"
    live = videos / f"ball-0016-002.mp4.{1}-0123abcd.part"  # pid 1 is alive: not ours to touch
    index_tmp = tmp_path / "toylab.jsonl.part"
    for f in (dead, old_style, live, index_tmp):
        f.write_bytes(b"partial")
    toylab_task.generate_toylab(str(tmp_path), [16], ["ball"], 1, 0)
    assert not dead.exists() and not old_style.exists() and not index_tmp.exists()
    assert live.exists()
    assert (videos / "ball-0016-000.mp4").stat().st_size > 0  # the real clip was written


def test_a_failed_generation_removes_its_own_temporary_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []

    def write_then_die(path: str, scene: object) -> None:
        calls.append(path)
        Path(f"{path}.{__import__('os').getpid()}-deadbeef.part").write_bytes(b"half")
        if len(calls) == 2:
            raise KeyboardInterrupt  # like Ctrl-C in the middle of an encode

    monkeypatch.setattr(toylab_task, "_write", write_then_die)
    with pytest.raises(KeyboardInterrupt):
        toylab_task.generate_toylab(str(tmp_path), [16], ["ball"], 3, 0)
    assert len(calls) == 2
    assert not list(tmp_path.rglob("*.part")), list(tmp_path.rglob("*"))
    assert remove_stale_parts(tmp_path / "videos") == []
