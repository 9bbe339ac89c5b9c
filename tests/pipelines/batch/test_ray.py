"""``vlmctx batch --engine ray`` on a local Ray (2 CPUs) with the trained toylab model: the same
answers as the local engine, resume, error records, exactly-once output when model actors or the
driver are SIGKILLed, and bad cluster inputs (an address where nothing answers, more actors than
CPUs) failing in bounded time with one line. Ray's start-up costs seconds and hundreds of MB: the
default suite runs the module's shared local Ray tests and the actor-kill test with in-actor
decoding; the other fault tests are ``slow`` (the two-node ones: test_ray_faults.py). All skip
when the ``ray`` extra is missing."""

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
    assert {tuple(sorted(set(r) - {"worker"})) for r in recs if r["error"] is None} == {
        tuple(sorted(r)) for r in read_jsonl(tmp_path / "local.jsonl") if r["error"] is None
    }, "the Ray engine writes the local engine's record schema, plus `worker`"
    answered = [r for r in recs if r["error"] is None]
    assert all(set(r["worker"]) == {"node_ip", "node_id", "actor_id"} for r in answered)
    assert all(r["worker"]["actor_id"] and r["worker"]["node_id"] for r in answered)
    again = run_batch_ray(items, _opts(out), RayOptions(actors=1))
    assert (again.done, again.failed, again.skipped, again.skipped_failed) == (0, 0, 8, 2)
    assert len(read_jsonl(out)) == 8


def _descends_from_us(pid: int) -> bool:
    """Whether ``pid`` is a descendant of this process (the machine is shared: other people's
    Ray actors must not be killed)."""
    me = os.getpid()
    while pid > 1:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        pid = int(stat.rsplit(")", 1)[1].split()[1])
        if pid == me:
            return True
    return False


def _actor_pids(name: str) -> list[int]:
    found = pids_where("cmdline", lambda cmd: cmd.startswith(b"ray::") and name.encode() in cmd)
    return [pid for pid in found if _descends_from_us(pid)]


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def test_the_dataset_keeps_its_error_settings_and_actors_fit_the_cluster(
    ray_local, clips, tmp_path
) -> None:
    """Ray Data copies the DataContext when a dataset is created: max_errored_blocks=-1 must be
    on the dataset itself, or one lost block ends the job (issue 30)."""
    from ray.data import DataContext

    from vlmctx.errors import ConfigError
    from vlmctx_pipelines.batch.qa import schedule_jobs
    from vlmctx_pipelines.batch.ray_engine import _dataset

    DataContext.get_current().max_errored_blocks = 0  # as a fresh process has it
    manifest = write_manifest(tmp_path / "m.jsonl", clips[:2], QS[:1])
    jobs = schedule_jobs(load_items(manifest), _opts(tmp_path / "o.jsonl"))[0]
    for decode in ("actor", "tasks"):
        ds = _dataset(jobs, _opts(tmp_path / "o.jsonl"), RayOptions(actors=1, decode=decode))
        assert ds.context.max_errored_blocks == -1
    with pytest.raises(ConfigError, match=r"--ray-actors 100000: the Ray cluster has 2 CPU"):
        _dataset(jobs, _opts(tmp_path / "o.jsonl"), RayOptions(actors=100000))
    with pytest.raises(ConfigError, match=r"--ray-decode tasks needs one for decoding"):
        _dataset(jobs, _opts(tmp_path / "o.jsonl"), RayOptions(actors=2, decode="tasks"))


def _kill_actors(out: Path, times: int, killed: list[int]) -> None:
    """SIGKILL a model actor ``times`` times, once each time a record more was written."""
    end = time.monotonic() + 300
    for k in range(times):
        while _lines(out) < 2 + k and time.monotonic() < end:
            time.sleep(0.05)
        pids = _actor_pids("MapBatches(Answerer)")
        if pids and _lines(out) < 20:
            os.kill(pids[0], signal.SIGKILL)
            killed.append(_lines(out))
        time.sleep(1.0)


@pytest.mark.parametrize(
    ("decode", "kills"),
    [
        ("actor", 2),
        pytest.param("actor", 4, marks=pytest.mark.slow),
        pytest.param("tasks", 1, marks=pytest.mark.slow),
    ],
)
def test_killed_model_actors_lose_and_double_nothing(
    ray_local, clips, tmp_path, decode, kills
) -> None:
    manifest = write_manifest(tmp_path / "m.jsonl", clips, QS)
    want = _reference(manifest, tmp_path, max_new_tokens=48)
    out = tmp_path / "ray.jsonl"
    killed: list[int] = []
    killer = threading.Thread(target=_kill_actors, args=(out, kills, killed))
    killer.start()
    opts = _opts(out, max_new_tokens=48)
    summary = run_batch_ray(load_items(manifest), opts, RayOptions(actors=1, decode=decode))
    killer.join()
    assert killed, "no model actor was found to kill"
    assert killed[0] < 20, "the job had finished before the kill: make items slower"
    got = _answers(out)
    assert set(got) == set(want), "every item has a record"
    failed = {k for k, v in got.items() if v[-1] != "None"}
    assert all(got[k] == want[k] for k in got if k not in failed)
    assert all(got[k][-1].startswith("WorkerDiedError") for k in failed)
    assert (summary.done, summary.failed) == (20 - len(failed), len(failed))


def test_bad_cluster_inputs_fail_in_bounded_time_with_one_line(clips, tmp_path) -> None:
    """Nothing listening (port 1), something listening that is not Ray, more actors than CPUs:
    each one line naming the problem, exit 2, in bounded time."""
    import socket

    manifest = write_manifest(tmp_path / "m.jsonl", clips[:1], QS[:1])
    base = [
        "python", "-m", "vlmctx_pipelines.batch.cli", str(manifest), "-o", str(tmp_path / "o"),
        "--model", MODEL, "--device", "cpu", "--frames", "4", "--no-progress", "--engine", "ray",
    ]  # fmt: skip
    with socket.socket() as not_ray:
        not_ray.bind(("127.0.0.1", 0))
        not_ray.listen()
        fake = f"127.0.0.1:{not_ray.getsockname()[1]}"
        for address, says in (("127.0.0.1:1", "no Ray cluster answers at 127.0.0.1:1"),
                              (fake, f"could not join the Ray cluster at {fake}")):  # fmt: skip
            t0 = time.monotonic()
            done = run_batch_cli(*base, "--ray-address", address, "--ray-timeout", "3", timeout=90)
            took = time.monotonic() - t0
            lines = [x for x in done.stderr.splitlines() if "error:" in x]
            assert done.returncode == 2, done.stderr[-2000:]
            assert len(lines) == 1 and says in lines[0], done.stderr[-2000:]
            assert "Traceback" not in done.stderr
            assert took < 60, f"{address}: {took:.0f} s"
    done = run_batch_cli(*base, "--ray-actors", "100000", timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "--ray-actors 100000: the Ray cluster has" in done.stderr, done.stderr[-2000:]


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
