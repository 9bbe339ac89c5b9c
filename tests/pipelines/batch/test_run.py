"""The batch job end to end with a real tiny model: records, failures, timeouts, resume, SIGKILL."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.pipelines.conftest import (
    ROOT,
    TINY,
    batch_cmd,
    read_jsonl,
    run_batch_cli,
    write_manifest,
)
from vlmctx.config import ContextConfig
from vlmctx_pipelines.batch.items import load_items
from vlmctx_pipelines.batch.qa import BatchOptions, run_batch

CFG = ContextConfig(sampler_params={"n": 4})
QS = ["What moves?", "How many squares?"]
QS_KILL = [f"Question {k}: what is shown?" for k in range(4)]


@pytest.fixture(scope="module")
def lm():
    from vlmctx.engine import VideoLM

    return VideoLM.load(TINY, CFG, device="cpu")


def _opts(out: Path, **kw) -> BatchOptions:
    base = dict(output=str(out), model=TINY, config=CFG, max_new_tokens=4, progress=False)
    return BatchOptions(**{**base, **kw})


def test_records_failures_timeout_and_resume(lm, clips, tmp_path: Path) -> None:
    bad = tmp_path / "garbage.mp4"
    bad.write_bytes(os.urandom(4096))
    fifo = tmp_path / "hangs.mp4"
    fifo.write_bytes(clips[2].read_bytes())  # a fine video on which the decoder wedges
    videos = [clips[0], bad, fifo, clips[1], tmp_path / "missing.mp4"]
    items = load_items(write_manifest(tmp_path / "m.jsonl", videos, QS))
    out = tmp_path / "out.jsonl"
    hang = "tests.pipelines.hanging_decoder:decode"
    summary = run_batch(items, _opts(out, decode_workers=1, timeout_s=5.0, decoder=hang), lm=lm)
    recs = {r["id"]: r for r in read_jsonl(out)}
    assert len(recs) == len(items) == 10
    assert (summary.done, summary.failed, summary.skipped) == (4, 6, 0)
    for it in items:
        r = recs[it.id]
        ok = it.video in (str(clips[0]), str(clips[1]))
        assert (r["error"] is None) == ok, r
        assert r["config"]["sampler_params"] == {"n": 4}
        if ok:
            assert len(r["frame_times_s"]) == 4 and r["frame_times_s"] == sorted(r["frame_times_s"])
            assert r["visual_tokens"] > 0 and r["timings"]["decode"] > 0
            assert set(r["timings"]) >= {"decode", "encode", "prefill", "generate"}
    assert "DecoderTimeoutError" in recs[items[4].id]["error"]
    # a rerun skips everything; --retry-failed redoes only the failures
    again = run_batch(items, _opts(out, decode_workers=1), lm=lm)
    assert (again.done, again.failed, again.skipped) == (0, 0, 10)
    assert len(read_jsonl(out)) == 10
    bad.unlink()
    fifo.unlink()
    retry = run_batch(items, _opts(out, decode_workers=0, retry_failed=True), lm=lm)
    assert (retry.done, retry.failed, retry.skipped) == (0, 6, 4)


@pytest.mark.slow
def test_overlapped_and_inline_give_the_same_answers(lm, clips, tmp_path: Path) -> None:
    items = load_items(write_manifest(tmp_path / "m.jsonl", clips, QS[:1]))
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    run_batch(items, _opts(a, decode_workers=2), lm=lm)
    run_batch(items, _opts(b, decode_workers=0), lm=lm)
    key = ("answer", "frame_times_s", "visual_tokens", "total_tokens")
    ra = {r["id"]: [r[k] for k in key] for r in read_jsonl(a)}
    rb = {r["id"]: [r[k] for k in key] for r in read_jsonl(b)}
    assert ra == rb and len(ra) == len(clips)


def _wait_lines(path: Path, n: int, proc: subprocess.Popen, limit: float = 180) -> None:
    end = time.monotonic() + limit
    while time.monotonic() < end and proc.poll() is None:
        if path.exists() and path.read_bytes().count(b"\n") >= n:
            return
        time.sleep(0.02)
    raise AssertionError(f"{path} did not reach {n} records (exit {proc.poll()})")


def _kill_after(cmd: list[str], out: Path, lines: int | None, delay: float = 0.0) -> None:
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    )
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        if lines is None:
            time.sleep(delay)
        else:
            _wait_lines(out, lines, proc)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the job and its decode workers, at once
        proc.wait()


def _check_against(reference: list[dict], out: Path) -> None:
    got = read_jsonl(out)  # every line parses: no half record
    ids = [r["id"] for r in got]
    assert len(ids) == len(set(ids)), "an item finished before the kill was redone"
    want = {r["id"]: (r["answer"], r["frame_times_s"]) for r in reference}
    assert {r["id"]: (r["answer"], r["frame_times_s"]) for r in got} == want


def test_sigkill_at_several_points_then_resume(lm, clips, tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path / "m.jsonl", clips, QS_KILL)
    ref = tmp_path / "ref.jsonl"
    run_batch(load_items(manifest), _opts(ref, decode_workers=1, max_new_tokens=48), lm=lm)
    out = tmp_path / "out.jsonl"
    cmd = batch_cmd(manifest, out)
    cmd[cmd.index("--max-new-tokens") + 1] = "48"
    _kill_after(cmd, out, lines=1)  # mid-job, right after a record
    first = out.read_bytes().count(b"\n")
    assert first < 12, "the job finished before the kill: make items slower"
    _kill_after(cmd, out, lines=first + 3)  # again, further on
    assert out.read_bytes().count(b"\n") < 20
    done = run_batch_cli(*cmd)
    assert done.returncode == 0, done.stderr
    assert "skipped" in done.stderr
    _check_against(read_jsonl(ref), out)


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume(lm, clips, tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path / "m.jsonl", clips, QS)
    ref = tmp_path / "ref.jsonl"
    run_batch(load_items(manifest), _opts(ref, decode_workers=1), lm=lm)
    out = tmp_path / "out.jsonl"
    cmd = batch_cmd(manifest, out, "--decode-workers", "2")
    for delay in (0.5, 4.0, 6.0, 7.5, 9.0):  # before load, during load, while writing
        _kill_after(cmd, out, lines=None, delay=delay)
        if out.exists():
            read_jsonl(out) if out.read_bytes().endswith(b"\n") else None
    done = run_batch_cli(*cmd)
    assert done.returncode == 0, done.stderr
    _check_against(read_jsonl(ref), out)


def test_batch_subcommand_registers() -> None:
    from vlmctx_pipelines.batch.cli import register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["batch", "videos/", "-o", "o.jsonl", "-q", "What?", "--frames", "8"])
    assert (args.input, args.output, args.question, args.frames) == (
        "videos/",
        "o.jsonl",
        ["What?"],
        8,
    )
    assert callable(args.func)
