"""``vlmctx eval --engine ray``: predictions made by Ray model actors (local Ray, 2 CPUs, the
toylab model) give the local engine's predictions and results, and a rerun resumes without Ray
work. ``slow`` (Ray's start-up is seconds and hundreds of MB; the default suite's Ray test is
tests/pipelines/batch/test_ray.py); skipped without the ``ray`` extra."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="the `ray` extra is not installed: pip install 'vlmctx[ray]'")

from vlmctx.config import ContextConfig  # noqa: E402
from vlmctx_eval.cli import build_tasks  # noqa: E402
from vlmctx_eval.harness.ray_runner import ray_predictor  # noqa: E402
from vlmctx_eval.harness.runner import RunOptions, evaluate  # noqa: E402

CFG = ContextConfig(sampler_params={"n": 8})


def _predictions(run: Path) -> dict[str, tuple]:
    lines = [json.loads(x) for x in (run / "samples_toylab.jsonl").read_text().splitlines()]
    return {x["sample_id"]: (x["prediction"], x["error"], x["frames"]) for x in lines}


@pytest.mark.slow
def test_ray_eval_equals_the_local_engine_and_resumes(tmp_path: Path) -> None:
    from vlmctx.engine import VideoLM
    from vlmctx.runtime.ray_cluster import connect, shutdown

    args = [f"toylab:dir={tmp_path / 'data'}", "toylab:frames=16", "toylab:per_cell=2"]
    header = {"model": "toylab", "config": CFG.to_dict()}
    local = evaluate(
        VideoLM.load("toylab", CFG, device="cpu"),
        build_tasks("toylab", args),
        tmp_path / "local",
        RunOptions(progress=False),
        header,
    )
    ray_header = dict(header, versions={"python": "3"})
    predict = ray_predictor("toylab", CFG, "cpu", None, 1, header=ray_header)
    connect(num_cpus=2)
    try:
        on_ray = evaluate(
            None, build_tasks("toylab", args), tmp_path / "ray",
            RunOptions(progress=False, predict=predict), ray_header,
        )  # fmt: skip
        assert on_ray is not None and local is not None
        assert _predictions(tmp_path / "ray") == _predictions(tmp_path / "local")
        assert len(_predictions(tmp_path / "ray")) == 10
        import torch

        info = on_ray["model_info"]  # as a local run's header: the loaded model's info()
        assert info["family"] and info["versions"]["torch"] == torch.__version__
        assert on_ray["versions"]["torch"] == torch.__version__  # with its build suffix
        shard = tmp_path / "ray" / "predictions" / "toylab" / "rank0.jsonl"
        recs = [json.loads(x) for x in shard.read_text().splitlines()]
        assert all(set(r["worker"]) == {"node_ip", "node_id", "actor_id"} for r in recs)
        for key in ("scores", "n_predicted", "n_generation_errors", "breakdowns"):
            if key == "breakdowns":  # latencies differ run to run; the score breakdowns do not
                strip = {k: v for k, v in local["results"]["toylab"][key].items() if k != "perf"}
                got = {k: v for k, v in on_ray["results"]["toylab"][key].items() if k != "perf"}
                assert got == strip
            else:
                assert on_ray["results"]["toylab"][key] == local["results"]["toylab"][key]
        shard = tmp_path / "ray" / "predictions" / "toylab" / "rank0.jsonl"
        before = shard.read_bytes()
        evaluate(None, build_tasks("toylab", args), tmp_path / "ray",
                 RunOptions(progress=False, predict=predict), header)  # fmt: skip
        assert shard.read_bytes() == before, "a finished run predicted again"
    finally:
        shutdown()
