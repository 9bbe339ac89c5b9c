"""Batch video QA: many (video, question) items -> one JSONL record each, resumable and parallel.

    from vlmctx_pipelines.batch.qa import BatchOptions, run_batch
    from vlmctx_pipelines.batch.items import load_items
    summary = run_batch(load_items("videos/", ["What happens?"]), BatchOptions(output="out.jsonl"))

How it runs (see docs/batch.md):

* **Resumable.** Records are appended and fsynced one by one
  (:mod:`vlmctx_pipelines.batch.store`); a rerun repairs a torn tail, reads which ids are finished
  and skips them.
* **Robust.** A video that fails to decode, hangs past ``timeout_s`` or makes the model fail gives
  a record with ``error`` set; the job goes on. A summary (done / failed / skipped, throughput)
  ends the run.
* **Overlapped.** Decode worker processes prefetch the next videos while the model answers
  (:mod:`vlmctx_pipelines.batch.decode`); all questions about one video share one decode.
* **Data parallel.** Under ``accelerate launch`` every rank loads the model on its own device and
  claims videos longest-first from a queue shared through the file system
  (:mod:`vlmctx_pipelines.batch.schedule`), so no rank idles while another still holds long videos.
* **Past one machine.** :func:`run_batch_ray` (``--engine ray``) runs the same items on Ray Data
  model actors with the same resume, records and summary
  (:mod:`vlmctx_pipelines.batch.ray_engine`).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlmctx.config import ContextConfig
from vlmctx.errors import ConfigError
from vlmctx_pipelines.batch.decode import (
    DEFAULT_DECODER,
    Decoded,
    DecodePool,
    InlineDecoder,
    describe,
)
from vlmctx_pipelines.batch.items import Item, Job, group_jobs
from vlmctx_pipelines.batch.schedule import LocalQueue, SharedQueue
from vlmctx_pipelines.batch.store import RecordWriter, finished, repair

log = logging.getLogger(__name__)


@dataclass
class BatchOptions:
    """How to run a batch job; ``decode_workers=0`` decodes inline (no overlap, no timeout)."""

    output: str
    model: str = "tiny-qwen2_vl"
    config: ContextConfig = field(default_factory=ContextConfig)
    device: str = "auto"
    dtype: str = "auto"
    max_new_tokens: int = 64
    decode_workers: int = 2
    prefetch: int = 2
    timeout_s: float = 300.0
    retry_failed: bool = False
    progress: bool = True
    decoder: str = DEFAULT_DECODER  # "module:function" run in the decode workers
    torch_threads: int = 0  # CPU model threads; 0: cores left by the decode workers; -1: as is
    # bytes of video prompt prefixes kept (rows about one video run back to back and prefill only
    # their question); None: sized from free memory, 0: off (docs/prefix-cache.md)
    prefix_cache: int | None = None
    prefix_cache_offload: bool = False


@dataclass
class Summary:
    """Counts of this run (all ranks) and its throughput."""

    done: int = 0
    failed: int = 0
    skipped: int = 0
    skipped_failed: int = 0  # skipped items whose last record (an earlier run's) is an error
    total: int = 0
    seconds: float = 0.0  # from the first item on: decode-pool start-up is in startup_s
    ranks: int = 1
    startup_s: float = 0.0  # waiting for the decode workers after the model was loaded

    @property
    def items_per_s(self) -> float:
        return (self.done + self.failed) / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "items_per_s": round(self.items_per_s, 4)}

    @property
    def ok(self) -> bool:
        """No error record for this input in the output: this run's or an earlier run's."""
        return self.failed == 0 and self.skipped_failed == 0

    def line(self) -> str:
        earlier = (
            f" ({self.skipped_failed} failed in an earlier run: --retry-failed redoes them)"
            if self.skipped_failed
            else ""
        )
        return (
            f"batch: {self.done} done, {self.failed} failed, {self.skipped} skipped{earlier} "
            f"(of {self.total}) in {self.seconds:.1f} s on {self.ranks} rank(s): "
            f"{self.items_per_s:.2f} items/s"
        )


class _Dist:
    """Rank, world size, barrier and device; a single process needs no process group.

    On a machine without a GPU (or with ``--device cpu``) the ranks join a gloo process group:
    accelerate's ``PartialState`` only does so when asked for the CPU, and otherwise reports one
    process per rank, which would make every rank think it is rank 0.
    """

    def __init__(self, device: str) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank, self.device, self._state = 0, device, None
        if self.world > 1:
            import torch
            from accelerate import PartialState

            cpu = device == "cpu" or (device == "auto" and not torch.cuda.is_available())
            self._state = PartialState(cpu=cpu)
            if self._state.num_processes != self.world:
                raise ConfigError(
                    f"WORLD_SIZE is {self.world} but accelerate set up "
                    f"{self._state.num_processes} process(es) ({self._state.distributed_type}); "
                    "launch with `accelerate launch --multi_gpu --num_processes N` (on a CPU-only "
                    "machine too, with --device cpu) or torchrun"
                )
            self.rank = self._state.process_index
            if device == "auto":
                self.device = str(self._state.device)

    def barrier(self) -> None:
        if self._state is not None:
            self._state.wait_for_everyone()

    def gather(self, obj: Any) -> list[Any]:
        if self._state is None:
            return [obj]
        from accelerate.utils import gather_object

        return gather_object([obj])


def record_for(item: Item, answer: Any, decoded: Decoded, rank: int) -> dict[str, Any]:
    """The output record of one item (``answer`` is a VideoLM Answer, or None on failure)."""
    rec: dict[str, Any] = {"id": item.id, "video": item.video, "question": item.question}
    if answer is not None:
        d = answer.to_dict()
        d["timings"]["decode"] = round(decoded.seconds, 4)  # decoded in a worker, not in ask()
        rec.update(
            answer=d["text"],
            frame_times_s=[round(t, 4) for _, t in d["frames"]],
            frame_indices=[i for i, _ in d["frames"]],
            **{k: d[k] for k in ("visual_tokens", "total_tokens", "new_tokens", "timings")},
            **{
                k: d[k]
                for k in ("peak_memory_bytes", "peak_memory_scope", "model", "config", "backend")
            },
            prefix_cache=d["extra"].get("prefix_cache"),
            prefill_tokens=d["extra"].get("prefill_tokens"),
        )
    rec.update(error=None, rank=rank, finished_at=round(time.time(), 3))
    return rec


def answer_item(lm: Any, item: Item, decoded: Decoded, opts: BatchOptions, rank: int) -> dict:
    """The record of one item: its answer, or its decoding or model error (never raises)."""
    if decoded.error is not None:
        rec = record_for(item, None, decoded, rank)
        rec.update(error=decoded.error, model=opts.model, config=opts.config.to_dict())
        return rec
    try:
        answer = lm.ask(decoded.frames, item.question, max_new_tokens=opts.max_new_tokens)
    except Exception as exc:  # this item fails, the job goes on
        log.warning("%s: %s", item.id, describe(exc))
        rec = record_for(item, None, decoded, rank)
        rec.update(error=describe(exc), model=opts.model, config=opts.config.to_dict())
        return rec
    return record_for(item, answer, decoded, rank)


def progress_bar(total: int, enabled: bool, desc: str = "batch") -> Any:
    """A tqdm bar on stderr counting items, or None when disabled."""
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="item", desc=desc, file=sys.stderr, dynamic_ncols=True)


def schedule_jobs(items: list[Item], opts: BatchOptions) -> tuple[list[Job], int, int]:
    """Drop the items finished in ``opts.output`` and order the rest longest-first: (jobs,
    skipped, skipped items whose last record is an error). Every engine resumes through it."""
    done = finished(opts.output, retry_failed=opts.retry_failed)
    todo = [it for it in items if it.id not in done]
    failed = sum(1 for it in items if done.get(it.id, {}).get("error"))
    return group_jobs(todo), len(items) - len(todo), failed


def _schedule(items: list[Item], opts: BatchOptions, dist: _Dist) -> tuple[list[Job], int, int]:
    """Repair the output, then :func:`schedule_jobs`; identical on every rank."""
    if dist.rank == 0:
        repair(opts.output)
    dist.barrier()
    scheduled = schedule_jobs(items, opts)
    dist.barrier()  # every rank has read the file before anyone appends to it
    return scheduled


def run_batch(items: list[Item], opts: BatchOptions, lm: Any = None) -> Summary:
    """Answer every item not already finished in ``opts.output``; returns the run's summary.

    ``lm`` may be a loaded :class:`~vlmctx.engine.VideoLM` (else it is loaded from ``opts``).
    """
    dist = _Dist(opts.device)
    jobs, skipped, skipped_failed = _schedule(items, opts, dist)
    if not jobs:  # nothing left to do: no model to load, no workers to start
        return _finish(Summary(ranks=dist.world), dist, opts, 0, skipped, skipped_failed)
    claims = _claims(jobs, opts, dist)

    def next_job() -> Job | None:
        k = claims.claim()
        return None if k is None else jobs[k]

    source = _source(next_job, opts)  # workers start while the model loads
    with source, RecordWriter(opts.output) as out:
        if lm is None:
            from vlmctx.engine import VideoLM
            from vlmctx.engine.prefix_cache import PrefixCache

            cache = PrefixCache(opts.prefix_cache, opts.prefix_cache_offload)
            lm = VideoLM.load(
                opts.model, opts.config, device=dist.device, dtype=opts.dtype, prefix_cache=cache
            )
        limit_torch_threads(lm, opts)
        n_todo = sum(len(j.items) for j in jobs)
        mine = Summary(skipped=skipped if dist.rank == 0 else 0, ranks=dist.world)
        mine.startup_s = source.wait_ready(opts.timeout_s)
        t0 = time.perf_counter()
        bar = progress_bar(n_todo, opts.progress and dist.rank == 0)
        for decoded in source.results():
            if decoded.job is None:  # the dispatcher itself failed
                raise RuntimeError(f"decode pool failed: {decoded.error}")
            for item in decoded.job.items:
                rec = answer_item(lm, item, decoded, opts, dist.rank)
                out.write(rec)
                mine.failed += rec["error"] is not None
                mine.done += rec["error"] is None
                global_done = claims.add_done(1)
                if bar is not None:
                    bar.update(global_done - bar.n)
        mine.seconds = time.perf_counter() - t0
    if bar is not None:
        bar.close()
    return _finish(mine, dist, opts, n_todo, skipped, skipped_failed)


def run_batch_ray(items: list[Item], opts: BatchOptions, ray_opts: Any = None) -> Summary:
    """:func:`run_batch` on Ray Data (``--engine ray``; see
    :mod:`vlmctx_pipelines.batch.ray_engine`): the same resume, records and summary."""
    from vlmctx.runtime.ray_cluster import check_actors, require_ray
    from vlmctx_pipelines.batch.ray_engine import RayOptions, run_ray

    ray_opts = ray_opts or RayOptions()
    require_ray()  # before anything else: a missing extra is one clear line
    check_actors(ray_opts.actors)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ConfigError("--engine ray runs from one driver: do not start it with accelerate")
    repair(opts.output)
    jobs, skipped, skipped_failed = schedule_jobs(items, opts)
    summary = Summary(skipped=skipped, skipped_failed=skipped_failed, total=len(items))
    if jobs:
        run_ray(jobs, opts, ray_opts, summary)
    return summary


def _claims(jobs: list[Job], opts: BatchOptions, dist: _Dist) -> Any:
    """The job counter: a file shared by the ranks, or a local one."""
    if dist.world > 1:
        claims: Any = SharedQueue(f"{opts.output}.queue", len(jobs))
        if dist.rank == 0:
            claims.reset()
        dist.barrier()
    else:
        claims = LocalQueue(len(jobs))
    return claims


def _source(next_job: Any, opts: BatchOptions) -> Any:
    """Decode worker processes prefetching jobs, or inline decoding (``decode_workers=0``)."""
    if opts.decode_workers <= 0:
        return InlineDecoder(next_job, opts.config)
    return DecodePool(
        next_job,
        opts.config,
        workers=opts.decode_workers,
        prefetch=opts.prefetch,
        timeout_s=opts.timeout_s,
        decoder=opts.decoder,
    )


def limit_torch_threads(lm: Any, opts: BatchOptions) -> None:
    """On CPU, leave the decode workers their cores: torch's default of one thread per core
    would oversubscribe them (every thread then waits on the others)."""
    if opts.torch_threads < 0 or not str(getattr(lm, "device", "cpu")).startswith("cpu"):
        return
    import torch

    want = opts.torch_threads or max(1, (os.cpu_count() or 1) - max(opts.decode_workers, 0))
    if torch.get_num_threads() > want or opts.torch_threads:
        log.info("torch threads %d -> %d", torch.get_num_threads(), want)
        torch.set_num_threads(want)


def _finish(
    mine: Summary, dist: _Dist, opts: BatchOptions, n_todo: int, skipped: int, skipped_failed: int
) -> Summary:
    dist.barrier()
    parts = dist.gather(mine.to_dict())
    total = Summary(
        done=sum(p["done"] for p in parts),
        failed=sum(p["failed"] for p in parts),
        skipped=skipped,
        skipped_failed=skipped_failed,
        total=n_todo + skipped,
        seconds=max(p["seconds"] for p in parts),
        ranks=dist.world,
        startup_s=max(p["startup_s"] for p in parts),
    )
    if dist.world > 1 and dist.rank == 0:
        Path(f"{opts.output}.queue").unlink(missing_ok=True)
    return total
