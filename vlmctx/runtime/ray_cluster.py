"""Connecting to Ray for the ``--engine ray`` paths of ``vlmctx batch`` and ``vlmctx eval``.

Both rooms (``pipelines/`` and ``eval/``) run on Ray Data and need the same three things: a clear
error when the optional ``ray`` extra is missing, one way to pick the cluster (``--ray-address``,
else ``RAY_ADDRESS``, else a Ray started on this machine) and how many model actors a cluster
can hold. They live here, in the library both rooms may import, rather than copied into each.
Ray itself is imported only when a Ray engine is asked for.
"""

from __future__ import annotations

import json
import logging
import os
import time
import warnings
from collections.abc import Iterator
from typing import Any

from vlmctx.errors import ConfigError

log = logging.getLogger(__name__)
TASK_RETRIES = 3  # a batch whose actor died is retried this many times, then given up
INSTALL_HINT = "pip install 'vlmctx[ray]' (or pip install 'ray[data]==2.60.0')"


def require_ray() -> Any:
    """``import ray`` with Ray Data, or a :class:`ConfigError` that says how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise ConfigError(
            f"--engine ray needs Ray Data, which is not installed: {INSTALL_HINT}"
        ) from exc
    return ray


def connect(address: str | None = None, num_cpus: int | None = None) -> float:
    """Join the Ray cluster at ``address`` (else ``RAY_ADDRESS``; else Ray's own rule: a cluster
    that ``ray start`` runs on this machine, or a new one for this process with ``num_cpus`` CPUs,
    default all); returns the seconds it took (0 when already joined)."""
    ray = require_ray()
    if ray.is_initialized():
        return 0.0
    address = address or os.environ.get("RAY_ADDRESS") or None
    t0 = time.perf_counter()
    try:
        ray.init(
            address=address,
            num_cpus=None if address else num_cpus,
            include_dashboard=False,
            logging_level=logging.WARNING,
            configure_logging=False,
        )
    except (ConnectionError, ValueError, RuntimeError) as exc:
        where = f"the Ray cluster at {address}" if address else "a local Ray"
        raise ConfigError(
            f"could not start or join {where}: {exc}; check `ray status` on the head node, "
            "or leave --ray-address and RAY_ADDRESS unset for a local Ray"
        ) from exc
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False  # the front ends show their own bar, per record
    logging.getLogger("ray.data").setLevel(logging.ERROR)  # plan and progress chatter
    return time.perf_counter() - t0


def check_actors(requested: int) -> None:
    """Refuse a negative ``--ray-actors`` before anything starts."""
    if requested < 0:
        raise ConfigError(f"--ray-actors {requested}: give a positive number, or 0 for automatic")


def model_actors(requested: int, device: str) -> tuple[int, float]:
    """(number of model actors, GPUs per actor): one actor per GPU of the cluster (``device``
    not ``cpu``), else one per two CPUs; ``requested`` > 0 wins."""
    import ray

    gpus = int(ray.cluster_resources().get("GPU", 0)) if device != "cpu" else 0
    cpus = int(ray.cluster_resources().get("CPU", 1))
    check_actors(requested)
    n = requested if requested > 0 else (gpus or max(1, cpus // 2))
    if gpus and n > gpus:
        raise ConfigError(f"--ray-actors {n}: the cluster has {gpus} GPU(s); one actor per GPU")
    return n, 1.0 if gpus else 0.0


def map_with_actors(ds: Any, actor: type, kwargs: dict[str, Any], n: int, gpus: float) -> Any:
    """``ds.map_batches`` through a pool of ``n`` ``actor`` instances (one model each), one row
    per call. A dead actor is restarted and its batch retried ``TASK_RETRIES`` times; a row that
    still fails is dropped (``max_errored_blocks=-1``) and the caller writes its error record, so
    one bad input never fails the whole job."""
    from ray.data import ActorPoolStrategy, DataContext

    DataContext.get_current().max_errored_blocks = -1
    with warnings.catch_warnings():
        # Ray Data's own default is max_task_retries=-1: a video that kills its actor every
        # time would be retried forever. Ray 2.60 has no named parameter for it yet, only
        # ray_remote_args (deprecated for 2.64, when the pin moves).
        warnings.filterwarnings("ignore", message=".*ray_remote_args.*deprecated")
        return ds.map_batches(
            actor,
            fn_constructor_kwargs=kwargs,
            batch_size=1,
            compute=ActorPoolStrategy(size=n),
            num_gpus=gpus,
            num_cpus=1,
            max_restarts=-1,
            max_task_retries=TASK_RETRIES,
        )


def unique_records(ds: Any, key: str, seen: set[str]) -> Iterator[dict[str, Any]]:
    """The JSON records of ``ds``'s ``record`` column as they are produced, each ``key`` once:
    a batch retried after its actor died may answer again, and ``seen`` (updated) drops it."""
    for batch in ds.iter_batches(batch_size=None):
        for line in batch["record"]:
            rec = json.loads(line)
            if rec[key] not in seen:
                seen.add(rec[key])
                yield rec


def shutdown() -> None:
    """Leave the cluster (stops a Ray this process started)."""
    import ray

    if ray.is_initialized():
        ray.shutdown()
