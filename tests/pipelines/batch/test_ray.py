"""``vlmctx batch --engine ray`` on a local Ray (2 CPUs) with the trained toylab model: the same
answers as the local engine, resume, error records, and exactly-once output when a model actor
or the driver is SIGKILLed. Ray's start-up costs seconds and hundreds of MB, so one test runs in
the default suite and the fault tests are ``slow``; all skip when the ``ray`` extra is missing."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.pipelines.conftest import ROOT, pids_where, read_jsonl, run_batch_cli, write_manifest

pytest.importorskip("ray", reason="the `ray` extra is not installed: pip install 'vlmctx[ray]'")

from vlmctx.config import ContextConfig  # noqa: E402
from vlmctx_pipelines.batch.items import load_items  # noqa: E402
from vlmctx_pipelines.batch.qa import BatchOptions, run_batch, run_batch_ray  # noqa: E402
from vlmctx_pipelines.batch.ray_engine import RayOptions  # noqa: E402

MODEL = "toylab"
CFG = ContextConfig(sampler_params={"n": 4})
QS = [f"Question {k}: what is shown?" for k in range(4)]
KEY = ("answer", "frame_times_s", "frame_indices", "visual_tokens", "total_tokens", "error")


@pytest.fixture(scope="module")
def ray_local():
    from vlmctx.runtime.ray_cluster import connect, shutdown

    connect(num_cpus=2)
    yield
    shutdown()


def _opts(out: Path, **kw) -> BatchOptions:
    base = dict(output=str(out), model=MODEL, config=CFG, device="cpu", max_new_tokens=8,
                decode_workers=1, progress=False)  # fmt: skip
    return BatchOptions(**{**base, **kw})


def _answers(path: Path) -> dict[str, tuple]:
    recs = read_jsonl(path)
    ids = [r["id"] for r in recs]
    assert len(ids) == len(set(ids)), "an id was written twice"
    return {r["id"]: tuple(str(r.get(k)) for k in KEY) for r in recs}


def _reference(manifest: Path, tmp_path: Path, **kw) -> dict[str, tuple]:
    ref = tmp_path / "local.jsonl"
    run_batch(load_items(manifest), _opts(ref, **kw))
    return _answers(ref)


def test_ray_engine_answers_like_the_local_engine_and_resumes(ray_local, clips, tmp_path) -> None:
    bad = tmp_path / "garbage.mp4"
    bad.write_bytes(os.urandom(2048))
    manifest = write_manifest(tmp_path / "m.jsonl", [*clips[:3], bad], QS[:2])
    want = _reference(manifest, tmp_path)
    out = tmp_path / "ray.jsonl"
    items = load_items(manifest)
    summary = run_batch_ray(items, _opts(out), RayOptions(actors=1))
    assert (summary.done, summary.failed, summary.skipped) == (6, 2, 0)
    assert _answers(out) == want
    recs = read_jsonl(out)
    assert {tuple(sorted(r)) for r in recs if r["error"] is None} == {
        tuple(sorted(r)) for r in read_jsonl(tmp_path / "local.jsonl") if r["error"] is None
    }, "the Ray engine writes the local engine's record schema"
    again = run_batch_ray(items, _opts(out), RayOptions(actors=1))
    assert (again.done, again.failed, again.skipped, again.skipped_failed) == (0, 0, 8, 2)
    assert len(read_jsonl(out)) == 8


def _actor_pids(name: str) -> list[int]:
    return pids_where("cmdline", lambda cmd: cmd.startswith(b"ray::") and name.encode() in cmd)


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


@pytest.mark.slow
@pytest.mark.parametrize("decode", ["actor", "tasks"])
def test_a_killed_model_actor_loses_and_doubles_nothing(ray_local, clips, tmp_path, decode) -> None:
    manifest = write_manifest(tmp_path / "m.jsonl", clips, QS)
    want = _reference(manifest, tmp_path, max_new_tokens=48)
    out = tmp_path / "ray.jsonl"
    killed: list[int] = []

    def kill_one() -> None:
        end = time.monotonic() + 300
        while _lines(out) < 2 and time.monotonic() < end:
            time.sleep(0.05)
        pids = _actor_pids("MapBatches(Answerer)")
        if pids:
            os.kill(pids[0], signal.SIGKILL)
            killed.append(_lines(out))

    killer = threading.Thread(target=kill_one)
    killer.start()
    opts = _opts(out, max_new_tokens=48)
    summary = run_batch_ray(load_items(manifest), opts, RayOptions(actors=1, decode=decode))
    killer.join()
    assert killed, "no model actor was found to kill"
    assert killed[0] < 20, "the job had finished before the kill: make items slower"
    assert _answers(out) == want
    assert summary.done == 20 and summary.failed == 0


@pytest.mark.slow
def test_a_sigkilled_driver_reruns_without_loss_or_doubles(clips, tmp_path) -> None:
    manifest = write_manifest(tmp_path / "m.jsonl", clips, QS)
    want = _reference(manifest, tmp_path, max_new_tokens=48)
    out = tmp_path / "ray.jsonl"
    cmd = [
        "python", "-m", "vlmctx_pipelines.batch.cli", str(manifest), "-o", str(out),
        "--model", MODEL, "--device", "cpu", "--frames", "4", "--max-new-tokens", "48",
        "--decode-workers", "1", "--no-progress", "--engine", "ray", "--ray-actors", "1",
    ]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        end = time.monotonic() + 300
        while _lines(out) < 3 and proc.poll() is None and time.monotonic() < end:
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and the Ray it started
        proc.wait()
    first = _lines(out)
    assert 0 < first < 20, f"the kill came at {first} of 20 records: make items slower"
    done = run_batch_cli(*cmd, timeout=400)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"{first} skipped" in done.stderr
    assert _answers(out) == want
