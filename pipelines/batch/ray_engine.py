"""``vlmctx batch --engine ray``: the batch job on Ray Data, for more than one machine.

The pipeline (the shape vLLM's and NeMo Curator's batch pipelines use; see docs/batch.md)::

    items -> drop finished ids (resume) -> jobs, longest first -> Ray Dataset (one row per video)
          [-> decode tasks on CPU workers, frames through the object store   (decode="tasks")]
          -> model actors (ActorPoolStrategy(size=N), num_gpus=1 each on GPU, one VideoLM each;
             with decode="actor" each actor decodes in its own decode pool, with the timeout)
          -> records (the local engine's schema) streamed back to the driver -> output JSONL

**Exactly once.** Only the driver writes the output, through the same durable appender as the
local engine (:class:`~vlmctx_pipelines.batch.store.RecordWriter`), and it writes a record only
for an id it has not written yet. A batch that Ray retries after a model actor died may bring
answers twice; the second copy is dropped. A driver killed by ``SIGKILL`` leaves every record it
wrote on disk (fsynced), and a rerun resumes from them like the local engine.

**Never a failed job.** A bad video is an error record (decoding errors are caught in the actor
or the decode task). Ray restarts a dead actor and retries its batch (``max_task_retries``); a
batch that still fails (its node lost) is set aside (``max_errored_blocks=-1``, set on the
dataset itself) and the driver runs up to ``RETRY_PASSES`` more passes over the missing items on
the actors left; an item unanswered after that gets an error record (exit 3). A cluster that
went away is one line and exit 4 (:class:`~vlmctx.errors.ClusterLostError`); a rerun resumes.
Records name the node and actor that answered (``worker``).

**Where decoding runs.** ``decode="actor"`` (the default) decodes next to the model, in
``decode_workers`` threads of the actor: the frames never go through the object store, and the
next videos of a call (up to ``ACTOR_BATCH`` a call) decode while the model answers the current
one. Threads, not the local engine's decode processes: inside a Ray worker, Python's multiprocessing resource tracker was killed under
such a pool (``resource_tracker: process died unexpectedly``, then a traceback per queue), and
Ray already isolates a wedged actor. A video past ``timeout_s`` is a timeout record.
``decode="tasks"`` decodes in Ray tasks on any CPU of the cluster (``map_batches``, one CPU
each), which pays when GPU nodes have few CPUs; ``pipelines/bench/batch_ray.py`` measures both
(results in docs/batch.md).
"""

from __future__ import annotations

import json
import logging
import pickle
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from dataclasses import dataclass, fields
from typing import Any

from vlmctx.config import ContextConfig
from vlmctx.runtime.ray_cluster import (
    CONNECT_TIMEOUT_S,
    RETRY_PASSES,
    TASK_RETRIES,
    quiet_actor_logs,
    worker_identity,
)
from vlmctx_pipelines.batch.decode import Decoded, decode_video, describe
from vlmctx_pipelines.batch.items import Item, Job
from vlmctx_pipelines.batch.store import RecordWriter

log = logging.getLogger(__name__)
ACTOR_BATCH = 4  # decode="actor": videos a call at most (see videos_per_call)


@dataclass
class RayOptions:
    """Where and how wide the Ray job runs."""

    address: str | None = None  # None: RAY_ADDRESS, else a Ray started on this machine
    actors: int = 0  # model actors; 0: one per GPU, else one per two CPUs
    decode: str = "actor"  # "actor": in the model actor; "tasks": Ray tasks on CPU workers
    num_cpus: int | None = None  # CPUs of a Ray started here (default: all)
    timeout_s: float = CONNECT_TIMEOUT_S  # --ray-timeout: reaching and joining the cluster


def job_rows(jobs: list[Job]) -> list[dict[str, Any]]:
    """One dataset row per video, longest first (the order ``group_jobs`` gave)."""
    return [
        {
            "video": j.video,
            "size": j.size,
            "items": json.dumps([[i.id, i.question] for i in j.items]),
        }
        for j in jobs
    ]


def _job(row: dict[str, Any]) -> Job:
    video = str(row["video"])
    items = [Item(i, video, q) for i, q in json.loads(str(row["items"]))]
    return Job(video, items, int(row["size"]))


def _rows(batch: dict[str, Any]) -> list[dict[str, Any]]:
    keys = list(batch)
    return [dict(zip(keys, vals, strict=True)) for vals in zip(*batch.values(), strict=True)]


def _timeout_why(timeout_s: float) -> str:
    return (
        f"DecoderTimeoutError: decoding took longer than {timeout_s:g} s "
        "(raise --timeout if the video is just long)"
    )


def decode_rows(
    batch: dict[str, Any], config_json: str, timeout_s: float = 300.0
) -> dict[str, Any]:
    """``decode="tasks"``: decode each row's video in this CPU task; the frames (or the error)
    travel to the model actor pickled in a ``decoded`` column. A decode past ``timeout_s`` is a
    timeout error (its thread is abandoned: a thread cannot be killed)."""
    config = ContextConfig.from_json(config_json)
    out: list[bytes] = []
    for row in _rows(batch):
        t0 = time.perf_counter()
        pool = ThreadPoolExecutor(1, thread_name_prefix="decode")
        try:
            frames = pool.submit(decode_video, str(row["video"]), config).result(timeout_s)
            error = None
        except FuturesTimeout:
            frames, error = None, _timeout_why(timeout_s)
        except Exception as exc:  # this video's error record, not a failed job
            frames, error = None, describe(exc)
        finally:
            pool.shutdown(wait=False)
        out.append(pickle.dumps((frames, error, time.perf_counter() - t0)))
    return {**batch, "decoded": out}


class _Prefetcher:
    """Decoding inside a model actor: ``workers`` threads decode the videos of a call while the
    model answers the first ones (FFmpeg and the resize release the GIL). A video past
    ``timeout_s`` becomes a timeout error; its thread is abandoned with its executor (a thread
    cannot be killed) and a fresh executor takes the next videos."""

    def __init__(self, config: ContextConfig, workers: int, timeout_s: float) -> None:
        self.config, self.workers, self.timeout_s = config, max(1, workers), timeout_s
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="decode")

    def _decode(self, job: Job) -> Decoded:
        t0 = time.perf_counter()
        try:
            frames = decode_video(job.video, self.config)
            return Decoded(job, frames, None, time.perf_counter() - t0)
        except Exception as exc:  # this video's error record, not a failed job
            return Decoded(job, None, describe(exc), time.perf_counter() - t0)

    def decode(self, jobs: list[Job]) -> Iterator[Decoded]:
        """Each job decoded, in order, the later ones decoding while the earlier are used."""
        futures = [(job, self._pool.submit(self._decode, job), time.monotonic()) for job in jobs]
        for job, fut, started in futures:
            left = max(0.0, self.timeout_s - (time.monotonic() - started))
            try:
                yield fut.result(timeout=left)
            except FuturesTimeout:
                self._pool.shutdown(wait=False, cancel_futures=False)
                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="decode")
                yield Decoded(job, None, _timeout_why(self.timeout_s), time.monotonic() - started)


class Answerer:
    """A model actor: loads one ``VideoLM`` and answers every item of the videos it is given."""

    def __init__(self, opts: dict[str, Any]) -> None:
        from vlmctx.engine import VideoLM
        from vlmctx_pipelines.batch.qa import BatchOptions, limit_torch_threads

        quiet_actor_logs()
        opts = {**opts, "config": ContextConfig.from_dict(opts["config"])}
        self.opts = BatchOptions(**opts)
        self.lm = VideoLM.load(
            self.opts.model, self.opts.config, device=self.opts.device, dtype=self.opts.dtype
        )
        limit_torch_threads(self.lm, self.opts)
        self.worker = worker_identity()
        self._prefetch = _Prefetcher(
            self.opts.config, self.opts.decode_workers, self.opts.timeout_s
        )

    def _decoded(self, rows: list[dict[str, Any]]) -> Iterator[Decoded]:
        jobs = [_job(r) for r in rows]
        if "decoded" in rows[0]:  # decoded by the CPU tasks
            for job, row in zip(jobs, rows, strict=True):
                yield Decoded(job, *pickle.loads(row["decoded"]))
        else:
            yield from self._prefetch.decode(jobs)

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[str]]:
        from vlmctx_pipelines.batch.qa import answer_item

        records = []
        for decoded in self._decoded(_rows(batch)):
            for item in decoded.job.items:
                rec = answer_item(self.lm, item, decoded, self.opts, 0)
                records.append(json.dumps({**rec, "worker": self.worker}))
        return {"record": records}


def _dataset(jobs: list[Job], opts: Any, ray_opts: RayOptions, retry: bool = False) -> Any:
    """The Ray Dataset of output records (lazy; nothing runs before it is iterated); ``retry``:
    a pass over lost items, on as many actors as the cluster still holds."""
    import ray

    from vlmctx.runtime.ray_cluster import map_with_actors, model_actors

    tasks = ray_opts.decode == "tasks"
    n_actors, gpus = model_actors(ray_opts.actors, opts.device, cpu_tasks=tasks, clamp=retry)
    ray.data.DataContext.get_current().max_errored_blocks = -1  # before from_items copies it
    rows = 1 if tasks else videos_per_call(len(jobs), n_actors)
    blocks = max(1, -(-len(jobs) // rows))
    ds = ray.data.from_items(job_rows(jobs), override_num_blocks=blocks)
    if tasks:
        ds = ds.map_batches(
            decode_rows,
            fn_kwargs={"config_json": opts.config.to_json(), "timeout_s": opts.timeout_s},
            batch_size=1,
            num_cpus=1,
        )
    plain = {f.name: getattr(opts, f.name) for f in fields(opts)}
    plain.update(config=opts.config.to_dict(), progress=False)
    return map_with_actors(ds, Answerer, {"opts": plain}, n_actors, gpus, rows)


def videos_per_call(n_jobs: int, n_actors: int) -> int:
    """Videos a model actor gets per call with ``decode="actor"``: Ray Data runs one call of an
    actor at a time, so only the videos of one call can decode while the model answers the
    first; one video a call left decoding and answering in turn (0.5-0.7x the local engine,
    issue 30). Up to ``ACTOR_BATCH`` a call, while each actor still gets at least two calls
    (the work stays balanced; a lost call is retried whole, answered items dropped)."""
    return max(1, min(ACTOR_BATCH, n_jobs // max(1, 2 * n_actors)))


def _missing(jobs: list[Job], written: set[str]) -> list[Job]:
    """The jobs with items still unanswered, each with only those items."""
    out = []
    for job in jobs:
        items = [i for i in job.items if i.id not in written]
        if items:
            out.append(Job(job.video, items, job.size))
    return out


def _given_up(jobs: list[Job], written: set[str], opts: Any) -> list[dict[str, Any]]:
    """Error records for items no actor could answer (every retry and pass failed)."""
    from vlmctx_pipelines.batch.qa import answer_item

    why = (
        f"WorkerDiedError: the model actor answering this video died ({TASK_RETRIES + 1} tries, "
        f"{RETRY_PASSES + 1} passes: out of memory? a node lost?); rerun with --retry-failed "
        "after fixing the cause"
    )
    return [
        answer_item(None, it, Decoded(job, None, why), opts, 0)
        for job in _missing(jobs, written)
        for it in job.items
    ]


def run_ray(jobs: list[Job], opts: Any, ray_opts: RayOptions, summary: Any) -> Any:
    """Answer ``jobs`` on Ray, appending records to ``opts.output``; fills ``summary``.

    Items lost with an actor or a node are retried (Ray's ``TASK_RETRIES``, then up to
    ``RETRY_PASSES`` passes over what is missing), then written as error records (exit 3). A
    cluster that went away raises :class:`~vlmctx.errors.ClusterLostError` (exit 4)."""
    from vlmctx.runtime.ray_cluster import collect, connect
    from vlmctx_pipelines.batch.qa import progress_bar

    summary.startup_s = connect(ray_opts.address, ray_opts.num_cpus, ray_opts.timeout_s)
    n_todo = sum(len(j.items) for j in jobs)
    bar = progress_bar(n_todo, opts.progress, "batch [ray]")
    written: set[str] = set()
    t0 = time.perf_counter()

    def make_ds(seen: set[str], retry: bool) -> Any:
        left = _missing(jobs, seen)
        return _dataset(left, opts, ray_opts, retry) if left else None

    with RecordWriter(opts.output) as out:

        def emit(rec: dict[str, Any]) -> None:
            out.write(rec)
            summary.failed += rec["error"] is not None
            summary.done += rec["error"] is None
            if bar is not None:
                bar.update(1)

        for rec in collect(make_ds, "id", written):
            emit(rec)
        for rec in _given_up(jobs, written, opts):
            emit(rec)
    summary.seconds = time.perf_counter() - t0
    if bar is not None:
        bar.close()
    return summary
