"""``vlmctx eval --engine ray``: the predictions of an eval run made by Ray Data model actors.

Only generation moves to Ray; everything else is the local runner's (:mod:`vlmctx_eval.harness.runner`):
the samples a task loads, the resume rule (a sample with a successful record is skipped), the
prediction record (:func:`~vlmctx_eval.harness.runner.predict_one`), the file it goes to
(``predictions/<task>/rank0.jsonl``) and the scoring, once at the end with the same metrics. So a
Ray run and a local run of the same model give the same ``results.json``, and either can resume
the other.

Samples still to do are sharded over a pool of model actors (one ``VideoLM`` each, one GPU each
on GPU), one sample per call; their records stream back to the driver, which alone appends them,
each sample once (a batch retried after its actor died may answer twice). Samples lost with an
actor or a node are retried (Ray's retries, then passes over what is missing on the actors left:
:func:`vlmctx.runtime.ray_cluster.collect`); a sample on which actors keep dying gets an error
record, which a rerun retries. Each record names the node and actor that made it (``worker``);
the model's ``info()`` (versions with torch's build suffix) goes into the run's header, as local.
"""

from __future__ import annotations

import json
import logging
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vlmctx.config import ContextConfig
from vlmctx.errors import VlmctxError
from vlmctx.runtime.ray_cluster import CONNECT_TIMEOUT_S, RETRY_PASSES, TASK_RETRIES
from vlmctx_eval.harness.records import JsonlLog, Sample
from vlmctx_eval.harness.runner import RunOptions, done_ids, predict_one
from vlmctx_eval.tasks.base import Task

log = logging.getLogger(__name__)


class SamplePredictor:
    """A model actor: one ``VideoLM``; each call predicts the pickled samples of a batch."""

    def __init__(self, model: str, config: dict[str, Any], device: str) -> None:
        from vlmctx.engine import VideoLM
        from vlmctx.runtime.ray_cluster import quiet_actor_logs, worker_identity

        quiet_actor_logs()
        kwargs = {} if device == "auto" else {"device": device}
        self.lm = VideoLM.load(model, ContextConfig.from_dict(config), **kwargs)
        self.worker = {**worker_identity(), "model_info": self.lm.info()}

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[str]]:
        records = []
        for blob in batch["sample"]:
            sample: Sample = pickle.loads(blob)
            try:
                rec = predict_one(self.lm, sample)
            except VlmctxError as exc:  # as the local runner: one sample fails, not the run
                rec = {"sample_id": sample.id, "error": f"{type(exc).__name__}: {exc}"}
            rec["rank"] = 0
            rec["worker"] = self.worker  # the driver moves model_info to the run's header
            records.append(json.dumps(rec, ensure_ascii=False, default=str))
        return {"record": records}


def ray_predictor(
    model: str,
    config: ContextConfig,
    device: str,
    address: str | None,
    actors: int,
    timeout_s: float = CONNECT_TIMEOUT_S,
    header: dict[str, Any] | None = None,
) -> Callable[[Task, list[Sample], Path, RunOptions], None]:
    """A replacement for :func:`vlmctx_eval.harness.runner.generate` (``RunOptions.predict``) that
    predicts on Ray; it joins (or starts) the cluster on first use. ``header`` (the run's, later
    results.json's) gets the actors' ``model_info`` and versions, as a local run's has."""
    header = header if header is not None else {}

    def take_info(rec: dict[str, Any]) -> None:
        info = rec.get("worker", {}).pop("model_info", None)
        if info and not header.get("model_info"):
            header["model_info"] = info
            header.setdefault("versions", {}).update(info.get("versions", {}))

    def predict(task: Task, samples: list[Sample], out: Path, opts: RunOptions) -> None:
        import ray

        from vlmctx.runtime.ray_cluster import collect, connect, map_with_actors, model_actors

        shard_dir = out / "predictions" / task.name
        merged, _ = done_ids(shard_dir)
        todo = [s for s in samples if "error" in merged.get(s.id, {"error": 1})]
        log.info("%s: %d samples, %d to do on Ray", task.name, len(samples), len(todo))
        if not todo:
            return
        connect(address, timeout_s=timeout_s)
        kwargs = {"model": model, "config": config.to_dict(), "device": device}

        def make_ds(seen: set[str], retry: bool) -> Any:
            rows = [{"sample": pickle.dumps(s)} for s in todo if s.id not in seen]
            if not rows:
                return None
            n, gpus = model_actors(actors, device, clamp=retry)
            ray.data.DataContext.get_current().max_errored_blocks = -1  # before from_items
            ds = ray.data.from_items(rows, override_num_blocks=len(rows))
            return map_with_actors(ds, SamplePredictor, kwargs, n, gpus)

        from tqdm import tqdm

        bar = tqdm(total=len(todo), desc=f"{task.name} [ray]", disable=not opts.progress)
        seen: set[str] = set()
        with JsonlLog(shard_dir / "rank0.jsonl") as sink:
            for rec in collect(make_ds, "sample_id", seen):
                take_info(rec)
                sink.append(rec)
                bar.update(1)
            why = (
                f"WorkerDiedError: the model actor died on this sample ({TASK_RETRIES + 1} "
                f"tries, {RETRY_PASSES + 1} passes: out of memory? a node lost?)"
            )
            for s in todo:
                if s.id not in seen:  # every retry failed: an error record, as the local runner
                    sink.append({"sample_id": s.id, "error": why, "rank": 0})
        bar.close()

    return predict
