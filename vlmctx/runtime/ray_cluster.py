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
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from vlmctx.errors import ClusterLostError, ConfigError

log = logging.getLogger(__name__)
TASK_RETRIES = 3  # Ray's retries of a batch whose actor died (within one pass)
RETRY_PASSES = 2  # then passes over what is still missing, on the actors left; then error records
CONNECT_TIMEOUT_S = 30.0  # --ray-timeout default: probing the address and joining the cluster
LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"  # "0": 127.0.0.1 stays loopback
_GCS: str | None = None  # the joined cluster's head (GCS) address, for cluster_alive()
_LOST_LINE = (
    "the Ray cluster went away mid-run ({n} records written are kept); rerun the same "
    "command to resume once the cluster is back (exit 4)"
)
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


def connect(
    address: str | None = None, num_cpus: int | None = None, timeout_s: float = CONNECT_TIMEOUT_S
) -> float:
    """Join the Ray cluster at ``address`` (else ``RAY_ADDRESS``; else Ray's own rule: a cluster
    that ``ray start`` runs on this machine, or a new one for this process with ``num_cpus`` CPUs,
    default all); returns the seconds it took (0 when already joined).

    Never a hang: ``ray.init`` to an address where nothing answers retries for minutes, so the
    address is first probed over TCP and the join itself runs under ``timeout_s``
    (``--ray-timeout``); past it, one :class:`ConfigError` line names the address."""
    global _GCS
    ray = require_ray()
    if ray.is_initialized():
        return 0.0
    address = address or os.environ.get("RAY_ADDRESS") or None
    where = f"the Ray cluster at {address}" if address else "a local Ray"
    hint = "check `ray status` on the head node and the address, or raise --ray-timeout"
    t0 = time.perf_counter()
    if address and address != "auto":
        _probe(address, timeout_s, hint)
    _init_bounded(ray, address, num_cpus, timeout_s - (time.perf_counter() - t0), where, hint)
    _GCS = ray.get_runtime_context().gcs_address
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False  # the front ends show their own bar, per record
    ctx.max_errored_blocks = -1  # before any dataset copies the context: see map_with_actors
    logging.getLogger("ray.data").setLevel(logging.ERROR)  # plan and progress chatter
    return time.perf_counter() - t0


def _probe(address: str, timeout_s: float, hint: str) -> None:
    """Wait (at most ``timeout_s``) for something to accept TCP connections at ``address``."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--ray-address {address}: give HOST:PORT, e.g. 10.0.0.1:6379")
    deadline = time.perf_counter() + timeout_s
    while True:
        try:
            with socket.create_connection((host, int(port)), timeout=2.0):
                return
        except OSError as exc:
            if time.perf_counter() >= deadline:
                why = exc.strerror or type(exc).__name__
                raise ConfigError(
                    f"no Ray cluster answers at {address} ({why}, for {timeout_s:g} s); {hint}"
                ) from None
        time.sleep(0.5)


def _init_bounded(
    ray: Any, address: str | None, num_cpus: int | None, left_s: float, where: str, hint: str
) -> None:
    """``ray.init``; joining a cluster at ``address`` runs in a helper thread, waited for at most
    ``left_s`` seconds (it retries for minutes where the address does not speak Ray)."""
    box: dict[str, BaseException] = {}

    def join() -> None:
        try:
            ray.init(
                address=address,
                num_cpus=None if address else num_cpus,
                include_dashboard=False,
                logging_level=logging.WARNING,
                configure_logging=False,
                log_to_driver=True,
            )
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    # Not silenced: Ray's C++ core logs at error level, once per run, that the actors have
    # "constructor arguments in the object store and max_restarts > 0". Ray Data always puts the
    # pool's transformer in the object store, and restarts are what survive a dead actor
    # (max_restarts=0 leaves the pool waiting forever); RAY_BACKEND_LOG_LEVEL would hide it but
    # makes every Ray worker print a line about that setting instead.
    if not address:
        # A Ray started here runs in this thread: Ray ties its GCS and raylet to the thread
        # that spawns them (PR_SET_PDEATHSIG), so a helper thread's end would kill them.
        join()
    else:
        thread = threading.Thread(target=join, name="ray-init", daemon=True)
        thread.start()
        thread.join(max(1.0, left_s))
        if thread.is_alive():
            raise ConfigError(
                f"could not join {where}: no Ray handshake within --ray-timeout; {hint}"
            )
    exc = box.get("error")
    if isinstance(exc, (ConnectionError, ValueError, RuntimeError, TimeoutError)):
        raise ConfigError(f"could not start or join {where}: {exc}; {hint}") from exc
    if exc is not None:
        raise exc


def cluster_alive(timeout_s: float = 3.0) -> bool:
    """Whether the cluster's head (its GCS) still accepts connections."""
    if not _GCS:
        return False
    host, _, port = _GCS.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            return True
    except OSError:
        return False


def check_actors(requested: int) -> None:
    """Refuse a negative ``--ray-actors`` before anything starts."""
    if requested < 0:
        raise ConfigError(f"--ray-actors {requested}: give a positive number, or 0 for automatic")


def model_actors(
    requested: int, device: str, cpu_tasks: bool = False, clamp: bool = False
) -> tuple[int, float]:
    """(number of model actors, GPUs per actor), checked against what the cluster has: one actor
    per GPU (``device`` not ``cpu``), else one per two CPUs; ``requested`` > 0 wins, but never
    more actors than GPUs, nor than CPUs (each actor holds one CPU; with ``cpu_tasks`` one CPU
    is left for the decode tasks). Asking for more is a one-line error, not a job that waits
    forever for resources that do not exist. ``clamp`` (a retry pass after a node was lost):
    as many as the remaining cluster holds, said in one warning line."""
    import ray

    res = ray.cluster_resources()
    gpus = int(res.get("GPU", 0)) if device != "cpu" else 0
    cpus = int(res.get("CPU", 0))
    check_actors(requested)
    room = cpus - 1 if cpu_tasks else cpus
    n = requested if requested > 0 else (gpus or max(1, cpus // 2))
    if clamp and n > max(1, min(room, gpus or room)):
        fit = max(1, min(room, gpus or room))
        log.warning(
            "Ray: the cluster now holds %d model actor(s), not %d: retrying on those", fit, n
        )
        n = fit
    if gpus and n > gpus:
        raise ConfigError(f"--ray-actors {n}: the cluster has {gpus} GPU(s); one actor per GPU")
    if n > room:
        why = " and --ray-decode tasks needs one for decoding" if cpu_tasks else ""
        raise ConfigError(
            f"--ray-actors {n}: the Ray cluster has {cpus} CPU(s), each model actor holds one"
            f"{why}; give at most {max(room, 0)} (or add nodes)"
        )
    return n, 1.0 if gpus else 0.0


def map_with_actors(
    ds: Any, actor: type, kwargs: dict[str, Any], n: int, gpus: float, rows: int = 1
) -> Any:
    """``ds.map_batches`` through a pool of ``n`` ``actor`` instances (one model each), ``rows``
    rows per call (one block each). A dead actor is restarted and its batch retried ``TASK_RETRIES`` times; a row that
    still fails is dropped (``max_errored_blocks=-1``) and the caller retries it in a new pass
    (:func:`collect`), then writes its error record, so one lost node never fails the job.

    ``max_errored_blocks`` is set on ``ds.context``: a dataset copies the current DataContext
    when it is created, so setting the global one afterwards does nothing (issue 30)."""
    from ray.data import ActorPoolStrategy

    ds.context.max_errored_blocks = -1
    with warnings.catch_warnings():
        # Ray Data's own default is max_task_retries=-1: a video that kills its actor every
        # time would be retried forever. Ray 2.60 has no named parameter for it yet, only
        # ray_remote_args (deprecated for 2.64, when the pin moves).
        warnings.filterwarnings("ignore", message=".*ray_remote_args.*deprecated")
        out = ds.map_batches(
            actor,
            fn_constructor_kwargs=kwargs,
            batch_size=rows,
            # one call in flight an actor: queued calls would pile up on the first actor ready
            # (a whole job on one node while the others still load their model)
            compute=ActorPoolStrategy(size=n, max_tasks_in_flight_per_actor=1),
            num_gpus=gpus,
            num_cpus=1,
            max_restarts=-1,
            max_task_retries=TASK_RETRIES,
        )
    out.context.max_errored_blocks = -1
    return out


def collect(
    make_ds: Callable[[set[str], bool], Any], key: str, seen: set[str]
) -> Iterator[dict[str, Any]]:
    """Every record of the datasets ``make_ds(seen, retry)`` builds, each ``key`` once: a first pass,
    then up to ``RETRY_PASSES`` more over what is still missing (rows whose actors or node died
    past Ray's own retries), on the actors that remain. ``make_ds`` returns None when nothing is
    left. A cluster that went away is a :class:`ClusterLostError` (exit 4; a rerun resumes)."""
    for attempt in range(1 + RETRY_PASSES):
        ds = make_ds(seen, attempt > 0)
        if ds is None:
            return
        if attempt:
            log.warning("Ray: retrying what is missing, pass %d of %d", attempt, RETRY_PASSES)
        with _Watch():
            try:
                yield from unique_records(ds, key, seen)
            except Exception as exc:  # Ray's errors have no common base that covers them all
                if not cluster_alive():
                    raise ClusterLostError(_LOST_LINE.format(n=len(seen))) from exc
                log.warning("Ray: a pass failed (%s); retrying what is missing", _short(exc))


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}" if str(exc) else repr(exc)


class _Watch:
    """While a pass runs, check every second that the head still answers. Ray ends a driver
    whose cluster is gone from its C++ core (exit 1, no message); this thread is there first:
    after three failed checks it prints the one line of :class:`ClusterLostError` and exits 4
    (every record written so far is fsynced; a rerun resumes)."""

    def __init__(self) -> None:
        self._stop = threading.Event()

    def __enter__(self) -> _Watch:
        threading.Thread(target=self._run, name="ray-watch", daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()

    def _run(self) -> None:
        misses = 0
        while not self._stop.wait(1.0):
            misses = 0 if cluster_alive(1.0) else misses + 1
            if misses >= 3 and not self._stop.is_set():
                import sys

                print(f"vlmctx: error: {_LOST_LINE.format(n='the')}", file=sys.stderr, flush=True)
                os._exit(ClusterLostError.exit_code)


def worker_identity() -> dict[str, str]:
    """Which node and actor produced a record (the ``worker`` field of Ray records)."""
    import ray

    ctx = ray.get_runtime_context()
    return {
        "node_ip": ray.util.get_node_ip_address(),
        "node_id": ctx.get_node_id(),
        "actor_id": ctx.get_actor_id() or "",
    }


def quiet_actor_logs() -> None:
    """One model load per actor, without the Hub's and transformers' progress bars (each actor
    printed its own "Loading weights" bar into the driver's terminal)."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:  # pragma: no cover - transformers is a dependency
        pass


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


def loopback_cluster(workers: int = 1, num_cpus: int = 1) -> Any:
    """A real multi-node Ray cluster on this machine, for tests and benchmarks: a head node and
    ``workers`` worker nodes (each its own raylet and object store, ``num_cpus`` logical CPUs),
    all on 127.0.0.1 (Ray's ``ray.cluster_utils.Cluster``; ``.address`` to join it,
    ``.shutdown()`` to stop it).

    Ray resolves ``127.0.0.1`` to the machine's routable address unless
    ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, and that setting makes ``ray start --address``
    refuse a second node on one machine: so this turns the setting off for this process (and,
    through the environment, for drivers it starts) and starts the nodes from Python."""
    import ray._private.ray_constants as ray_constants
    from ray.cluster_utils import Cluster

    os.environ[LOOPBACK_ENV] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False
    head = {"num_cpus": num_cpus, "node_ip_address": "127.0.0.1", "include_dashboard": False}
    cluster = Cluster(initialize_head=True, head_node_args=head)
    for _ in range(workers):
        cluster.add_node(num_cpus=num_cpus, node_ip_address="127.0.0.1")
    return cluster
