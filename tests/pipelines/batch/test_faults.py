"""Batch faults of issue 13 (part 3): a finished rerun exits at once, error records give a
non-zero exit after a resume too, a SIGKILLed job leaves no worker or shared block behind, and
ids do not depend on how a path is spelled."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.pipelines.conftest import (
    ROOT,
    batch_cmd,
    pids_where,
    read_jsonl,
    run_batch_cli,
    write_manifest,
)
from vlmctx.config import ContextConfig
from vlmctx_pipelines.batch.decode import SHM_PREFIX, DecodePool
from vlmctx_pipelines.batch.items import load_items

SHM = Path("/dev/shm")


@pytest.mark.parametrize("n_jobs", [0, 1])
def test_pool_with_fewer_jobs_than_workers_is_ready_at_once(clips, n_jobs: int) -> None:
    """The jobs run out before the second worker's ready message is read: wait_ready() must not
    wait for it (it waited the whole --timeout, 300 s by default)."""
    from vlmctx_pipelines.batch.items import group_jobs

    jobs = group_jobs(load_items(clips[0].parent, ["q"]))[:n_jobs]
    t0 = time.monotonic()
    with DecodePool(lambda: jobs.pop() if jobs else None, ContextConfig(), workers=2) as pool:
        got = list(pool.results())
        pool.wait_ready(timeout_s=60)
    assert len(got) == n_jobs
    assert time.monotonic() - t0 < 30


def test_resume_keeps_the_exit_code_and_a_finished_rerun_is_fast(clips, tmp_path: Path) -> None:
    bad = tmp_path / "garbage.mp4"
    bad.write_bytes(os.urandom(2048))
    manifest = write_manifest(tmp_path / "m.jsonl", [clips[2], bad], ["What moves?"])
    out = tmp_path / "out.jsonl"
    cmd = batch_cmd(manifest, out, "--decode-workers", "2", "--timeout", "300")
    first = run_batch_cli(*cmd)
    assert first.returncode == 3, first.stderr
    t0 = time.monotonic()
    again = run_batch_cli(*cmd, timeout=120)
    assert time.monotonic() - t0 < 60, "a rerun with nothing to do waited for --timeout"
    assert again.returncode == 3, "the output still holds an error record for this input"
    assert "1 failed in an earlier run" in again.stderr and "2 skipped" in again.stderr
    assert len(read_jsonl(out)) == 2


def test_ids_do_not_depend_on_the_spelling_of_the_path(clips, tmp_path, monkeypatch) -> None:
    folder = clips[0].parent
    link = tmp_path / "link"
    link.symlink_to(folder)
    monkeypatch.chdir(folder.parent)
    spellings = [str(folder), folder.name, f"./{folder.name}/", f"{folder.name}/../{folder.name}"]
    ids = [sorted(i.id for i in load_items(s, ["What?"])) for s in [*spellings, str(link)]]
    assert all(x == ids[0] for x in ids) and len(ids[0]) == len(clips)
    manifest = write_manifest(tmp_path / "m.jsonl", [Path(folder.name) / clips[0].name], ["What?"])
    (tmp_path / folder.name).symlink_to(folder)  # the manifest's relative path, beside it
    assert load_items(manifest)[0].id in ids[0]


def _children(pid: int) -> list[int]:
    return pids_where("stat", lambda stat: int(stat.rsplit(b")", 1)[1].split()[1]) == pid)


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


@pytest.mark.skipif(not SHM.is_dir(), reason="needs Linux /proc and /dev/shm")
def test_sigkill_leaves_no_worker_and_no_shared_block(clips, tmp_path: Path) -> None:
    stale = SHM / f"{SHM_PREFIX}{_dead_pid()}-0123456789ab"
    stale.write_bytes(b"\0" * 4096)  # what a killed run leaves: reclaimed on the next start
    manifest = write_manifest(tmp_path / "m.jsonl", clips[:3], ["Q0?", "Q1?"])
    out = tmp_path / "out.jsonl"
    cmd = batch_cmd(manifest, out, "--decode-workers", "2", "--max-new-tokens", "48")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        end = time.monotonic() + 180
        while not (out.exists() and out.read_bytes().count(b"\n") >= 1):
            assert time.monotonic() < end and proc.poll() is None, "no record came"
            time.sleep(0.05)
        workers = _children(proc.pid)
        assert workers, "the job has no decode workers to orphan"
    finally:
        proc.send_signal(signal.SIGKILL)  # the main process only, as the OOM killer does
        proc.wait()
    end = time.monotonic() + 15
    while any(Path(f"/proc/{w}").exists() for w in workers) and time.monotonic() < end:
        time.sleep(0.1)
    alive = [w for w in workers if Path(f"/proc/{w}").exists()]
    assert not alive, f"decode workers outlived their job: {alive}"
    done = run_batch_cli(*cmd)  # its decode pool reclaims blocks of jobs no longer running
    assert done.returncode == 0, done.stderr
    assert not stale.exists()
    assert not list(SHM.glob(f"{SHM_PREFIX}{proc.pid}-*")), "the killed run's blocks remain"
    ids = [r["id"] for r in read_jsonl(out)]
    assert len(ids) == len(set(ids)) == 6
