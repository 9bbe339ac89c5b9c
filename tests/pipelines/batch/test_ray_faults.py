"""``vlmctx batch --engine ray`` on a real two-node Ray cluster (head + worker node, two raylets
on loopback, one CPU each), started by the test, with the toylab model:

* killing the worker node's raylet mid-run loses nothing: every item is answered (or an error
  record), none twice, exit 0 (3 if error records), the summary line printed;
* killing the head node mid-run (the whole cluster gone) stops the driver with one line and
  exit 4, and the rerun on a new cluster resumes without loss or doubles.

How the cluster is started on loopback: Ray resolves ``127.0.0.1`` to the machine's routable
address (its nodes and driver would then look for each other there) unless
``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``; that setting also makes ``ray start --address`` refuse a
second node on the same machine, so the nodes are started from Python with Ray's own
``ray.cluster_utils.Cluster`` (``node_ip_address="127.0.0.1"``) after turning the setting off
in this process, and the driver (a ``vlmctx batch`` subprocess) gets it in its environment.
``slow``: each test starts a cluster (~10-15 s) and runs ~40-90 s on 2 shared cores.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.pipelines.conftest import ROOT, make_videos, read_jsonl, write_manifest

pytest.importorskip("ray", reason="the `ray` extra is not installed: pip install 'vlmctx[ray]'")

QS = [f"Question {k}: what is shown?" for k in range(4)]
LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}  # for the driver subprocess


def start_cluster(monkeypatch: pytest.MonkeyPatch, workers: int = 1):  # noqa: ANN201
    """A head node and ``workers`` worker nodes on 127.0.0.1, one CPU each."""
    import ray._private.ray_constants as ray_constants

    from vlmctx.runtime.ray_cluster import LOOPBACK_ENV, loopback_cluster

    monkeypatch.setattr(ray_constants, "ENABLE_RAY_CLUSTER", True)  # restored after the test
    monkeypatch.setenv(LOOPBACK_ENV, "0")
    cluster = loopback_cluster(workers, num_cpus=1)
    return cluster, list(cluster.worker_nodes)


def _cmd(manifest: Path, out: Path, address: str, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "vlmctx_pipelines.batch.cli", str(manifest), "-o", str(out),
        "--model", "toylab", "--device", "cpu", "--frames", "4", "--max-new-tokens", "48",
        "--decode-workers", "1", "--no-progress", "--engine", "ray", "--ray-address", address,
        "--ray-actors", "2", *extra,
    ]  # fmt: skip


def _start(cmd: list[str], log: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT), **LOOPBACK_ENV)
    fh = open(log, "wb")  # noqa: SIM115  (closed with the process)
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=fh, stderr=fh, start_new_session=True)


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def _wait_lines(proc: subprocess.Popen, out: Path, n: int, limit_s: float = 240) -> int:
    end = time.monotonic() + limit_s
    while _lines(out) < n and proc.poll() is None and time.monotonic() < end:
        time.sleep(0.05)
    return _lines(out)


def _nodes(out: Path) -> set[str]:
    """The nodes named by the records written so far (a last line may be half-written)."""
    text = out.read_text() if out.exists() else ""
    found = set()
    for line in text.splitlines():
        try:
            found.add(json.loads(line)["worker"]["node_id"])
        except (ValueError, KeyError, TypeError):
            continue
    return found


def _kill(node, *names: str) -> None:  # noqa: ANN001
    for name in names:
        for info in node.all_processes.get(name, []):
            os.kill(info.process.pid, signal.SIGKILL)


def _check_exactly_once(out: Path, n: int) -> list[dict]:
    recs = read_jsonl(out)
    ids = [r["id"] for r in recs]
    assert len(ids) == len(set(ids)), "an id was written twice"
    assert len(ids) == n, f"{len(ids)} records for {n} items"
    return recs


@pytest.mark.slow
def test_losing_the_worker_node_mid_run_loses_nothing(tmp_path, monkeypatch) -> None:
    # many short videos: the pool hands each actor several videos ahead, and the worker node's
    # actor must have answered some before its node is killed
    videos = make_videos(tmp_path / "v", [20 + k % 5 * 5 for k in range(40)])
    cluster, (worker,) = start_cluster(monkeypatch)
    try:
        manifest = write_manifest(tmp_path / "m.jsonl", videos, QS[:2])
        out, log = tmp_path / "ray.jsonl", tmp_path / "driver.log"
        proc = _start(_cmd(manifest, out, cluster.address), log)
        end = time.monotonic() + 240  # kill once both nodes have answered something
        while len(_nodes(out)) < 2 and proc.poll() is None and time.monotonic() < end:
            time.sleep(0.1)
        at = _lines(out)
        assert proc.poll() is None and 0 < at < 76, f"no kill: {at} records, {log.read_text()}"
        _kill(worker, "raylet")  # the node's actors die with it
        rc = proc.wait(timeout=400)
        text = log.read_text(errors="replace")
        recs = _check_exactly_once(out, 80)
        errors = [r for r in recs if r["error"] is not None]
        assert rc == (3 if errors else 0), text[-3000:]
        assert all(e["error"].startswith("WorkerDiedError") for e in errors)
        assert f"{80 - len(errors)} done, {len(errors)} failed" in text, text[-2000:]
        assert len(_nodes(out)) == 2, "both nodes answered"
    finally:
        cluster.shutdown()


@pytest.mark.slow
def test_losing_the_whole_cluster_stops_in_one_line_and_reruns(
    clips, tmp_path, monkeypatch
) -> None:
    cluster, _ = start_cluster(monkeypatch)
    manifest = write_manifest(tmp_path / "m.jsonl", clips, QS)
    out, log = tmp_path / "ray.jsonl", tmp_path / "driver.log"
    try:
        proc = _start(_cmd(manifest, out, cluster.address), log)
        at = _wait_lines(proc, out, 3)
        assert proc.poll() is None and 0 < at < 20, f"no kill: {at} records, {log.read_text()}"
        t0 = time.monotonic()
        for node in [*cluster.worker_nodes, cluster.head_node]:
            _kill(node, "raylet", "gcs_server")
        rc = proc.wait(timeout=120)
        took = time.monotonic() - t0
    finally:
        cluster.shutdown()
    text = log.read_text(errors="replace")
    assert rc == 4, text[-3000:]
    assert "the Ray cluster went away" in text and "(exit 4)" in text, text[-3000:]
    assert took < 60, f"the driver took {took:.0f} s to stop"
    first = _lines(out)
    cluster, _ = start_cluster(monkeypatch)
    try:
        proc = _start(_cmd(manifest, out, cluster.address), tmp_path / "rerun.log")
        rc = proc.wait(timeout=400)
    finally:
        cluster.shutdown()
    rerun = (tmp_path / "rerun.log").read_text(errors="replace")
    assert rc == 0, rerun[-3000:]
    assert f"{first} skipped" in rerun or first == 0, rerun[-2000:]
    recs = _check_exactly_once(out, 20)
    assert all(r["error"] is None for r in recs)
