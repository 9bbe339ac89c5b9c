"""Decoding ahead of inference: a pool of decode worker processes with per-item timeouts.

The model should never wait on the decoder when it need not, so while the main process runs the
model on one video, worker processes sample and decode the next ones (``prefetch`` finished videos
are kept ready). Workers are processes, not threads, for two reasons: a hung decoder (decord holds
the GIL when it hangs) can be killed, and decoding then never competes with the model for the GIL.
A worker that exceeds ``timeout_s`` on a video, or dies, is killed and replaced, and that video is
reported as failed; the job goes on.

Decoded frames come back through shared memory, not through the result queue's pipe: pickling a
video's frames (55 MB for 60 frames of 640x480) through a pipe cost the model's process about
0.12 s of CPU per video, on a par with a tiny model's whole answer; a shared block costs one copy.

Each worker decodes exactly as :meth:`vlmctx.engine.VideoLM.frames` does: ``probe`` ->
``SAMPLERS.create(config.sampler).select`` -> ``read_frames``.

Nothing outlives a killed job (``SIGKILL``, the OOM killer): a worker asks the kernel to kill it
when the thread that started it ends (``PR_SET_PDEATHSIG`` on Linux; elsewhere a thread watches
the parent), and the shared blocks are named ``vlmctx-b<pid of the job>-<random>``, so the next
pool to start unlinks the blocks of jobs that are no longer running (:func:`reclaim_orphans`).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import queue
import secrets
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing import shared_memory
from typing import Any

import numpy as np

from vlmctx.config import ContextConfig
from vlmctx.runtime.procs import pid_alive

log = logging.getLogger(__name__)
_POLL_S = 0.1
SHM_PREFIX = "vlmctx-b"  # + "<pid of the job>-<random>": see reclaim_orphans
_SHM_DIR = "/dev/shm"


@dataclass
class Decoded:
    """What came back for one job: frames or an error, and the seconds decoding took."""

    job: Any
    frames: Any = None  # vlmctx.video.Frames
    error: str | None = None
    seconds: float = 0.0


def decode_video(path: str, config: ContextConfig) -> Any:
    """Sample and decode ``path`` under ``config`` (the steps of ``VideoLM.frames``)."""
    from vlmctx.video import SAMPLERS, probe, read_frames

    info = probe(path)
    selection = SAMPLERS.create(config.sampler, **dict(config.sampler_params)).select(info)
    return read_frames(info, selection, config.backend, config.max_pixels)


DEFAULT_DECODER = "vlmctx_pipelines.batch.decode:decode_video"


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _load_decoder(spec: str) -> Callable[[str, ContextConfig], Any]:
    """``"module:function"`` -> the function (a picklable way to name the decoder)."""
    import importlib

    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def _warm_up(backend: str) -> None:
    """Import the configured decoder before the worker says it is ready, so that a video's
    timeout counts decoding only. Only that backend: checking every backend would import
    torchcodec and with it torch (seconds and hundreds of MB per worker) for a PyAV read."""
    import av  # noqa: F401

    from vlmctx.video.reader import backend_status

    backend_status(backend)


def _limit_threads() -> None:
    """One OpenCV thread per worker (it resizes frames): the workers and the model share the
    cores, so a thread pool per worker would only oversubscribe them."""
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:  # pragma: no cover - OpenCV is optional
        pass


def _share(result: Any) -> tuple[Any, tuple[str, tuple[int, ...], str] | None]:
    """Move ``result.data`` (a numpy array) into a new shared-memory block: (result without it,
    (block name, shape, dtype)). Anything else passes through as is."""
    data = getattr(result, "data", None)
    if not isinstance(data, np.ndarray) or data.nbytes == 0:
        return result, None
    name = f"{SHM_PREFIX}{os.getppid()}-{secrets.token_hex(6)}"
    block = shared_memory.SharedMemory(name=name, create=True, size=data.nbytes)
    try:
        np.ndarray(data.shape, data.dtype, buffer=block.buf)[...] = data
    finally:
        block.close()
    result.data = None
    return result, (block.name, data.shape, data.dtype.str)


def _unshare(result: Any, handle: tuple[str, tuple[int, ...], str] | None, keep: bool) -> Any:
    """Put the frames of ``handle`` back into ``result`` (when ``keep``) and free the block."""
    if handle is None:
        return result
    name, shape, dtype = handle
    block = shared_memory.SharedMemory(name=name)
    try:
        if keep:
            result.data = np.ndarray(shape, np.dtype(dtype), buffer=block.buf).copy()
    finally:
        block.close()
        block.unlink()
    return result


def reclaim_orphans(shm_dir: str = _SHM_DIR) -> int:
    """Unlink the shared blocks left by batch jobs that are no longer running (a ``SIGKILL`` can
    leave the blocks of videos decoded but not yet read); returns the number removed."""
    removed = 0
    with contextlib.suppress(OSError):
        for name in os.listdir(shm_dir):
            owner = name.removeprefix(SHM_PREFIX).partition("-")[0]
            if not name.startswith(SHM_PREFIX) or not owner.isdigit() or pid_alive(int(owner)):
                continue
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(shm_dir, name))
                removed += 1
    if removed:
        log.warning("removed %d shared-memory block(s) left by a killed batch job", removed)
    return removed


def _die_with_parent(parent: int) -> None:
    """Make this worker end when the job that started it ends, even by ``SIGKILL``."""
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1: the kernel kills us with our parent
    else:  # pragma: no cover - a thread cannot run while a decoder holds the GIL, hence prctl

        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(0.5)
            os._exit(1)

        threading.Thread(target=watch, daemon=True).start()
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _worker_main(
    config_json: str, inbox: Any, outbox: Any, slot: int, spec: str, parent: int
) -> None:
    _die_with_parent(parent)
    _limit_threads()
    config = ContextConfig.from_json(config_json)
    _warm_up(config.backend)
    decode = _load_decoder(spec)
    me = (slot, os.getpid())
    outbox.put((me, None, (None, None), None, 0.0))  # ready
    while True:
        msg = inbox.get()
        if msg is None:
            return
        key, path = msg
        t0 = time.perf_counter()
        try:
            frames = decode(path, config)
            seconds = time.perf_counter() - t0
            outbox.put((me, key, _share(frames), None, seconds))
        except Exception as exc:  # any decoder failure is this item's error, not the job's
            outbox.put((me, key, (None, None), describe(exc), time.perf_counter() - t0))


class _Slot:
    def __init__(self, ctx: Any, config_json: str, outbox: Any, index: int, spec: str) -> None:
        self.inbox = ctx.Queue()
        self.proc = ctx.Process(
            target=_worker_main,
            args=(config_json, self.inbox, outbox, index, spec, os.getpid()),
            daemon=True,
        )
        self.proc.start()
        self.job: Any = None
        self.started = 0.0
        self.ready = False  # set when the worker has imported its decoders

    def stop(self, kill: bool = False) -> None:
        if kill:
            self.proc.kill()
        else:
            self.inbox.put(None)
        self.proc.join(timeout=5)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()


class DecodePool:
    """Decode jobs pulled from ``next_job`` in ``workers`` processes; iterate :meth:`results`.

    ``decoder`` names the decode function as ``"module:function"`` (default
    :func:`decode_video`), importable in a fresh process. Results come in completion order. A dispatcher thread hands jobs to idle workers, enforces the
    timeout and restarts dead workers, and keeps at most ``prefetch`` decoded videos waiting.
    """

    def __init__(
        self,
        next_job: Callable[[], Any],
        config: ContextConfig,
        *,
        workers: int = 2,
        prefetch: int = 2,
        timeout_s: float = 120.0,
        path_of: Callable[[Any], str] = lambda job: job.video,
        decoder: str = DEFAULT_DECODER,
    ) -> None:
        reclaim_orphans()
        self._spec = decoder
        self._next_job, self._path_of = next_job, path_of
        self._timeout, self._config_json = timeout_s, config.to_json()
        self._ctx = mp.get_context("spawn")  # no fork after torch/OpenMP threads started
        self._outbox = self._ctx.Queue()
        self._slots = [
            _Slot(self._ctx, self._config_json, self._outbox, i, self._spec) for i in range(workers)
        ]
        self._ready: queue.Queue[Decoded | None] = queue.Queue(maxsize=max(prefetch, 1))
        self._stop = threading.Event()
        self._all_ready = threading.Event()  # every first-generation worker has warmed up
        self._thread = threading.Thread(target=self._dispatch, name="decode-dispatch", daemon=True)
        self._thread.start()

    def wait_ready(self, timeout_s: float | None = None) -> float:
        """Block until every worker has started and imported its decoder; returns the seconds
        waited. Start-up (process spawn + imports) is paid once per job, so callers can keep it
        apart from the per-item throughput; the first jobs are handed out as workers get ready."""
        t0 = time.perf_counter()
        self._all_ready.wait(timeout_s)
        return time.perf_counter() - t0

    def results(self) -> Iterator[Decoded]:
        while True:
            item = self._ready.get()
            if item is None:
                return
            yield item

    def _dispatch(self) -> None:
        pending: deque[Decoded] = deque()  # finished, waiting for room in the ready queue
        exhausted = False
        try:
            while not self._stop.is_set():
                if not exhausted and not pending:
                    exhausted = self._fill_idle()
                if exhausted and not pending and all(s.job is None for s in self._slots):
                    break
                self._drain(pending, 0.0 if pending else _POLL_S)
                self._watch(pending)
                while pending:
                    try:
                        self._ready.put(pending[0], timeout=_POLL_S)
                    except queue.Full:
                        break  # the model is busy: keep watching the workers meanwhile
                    pending.popleft()
        except BaseException as exc:  # pragma: no cover - surfaced as a failed result
            log.exception("decode dispatcher failed")
            self._ready.put(Decoded(None, error=describe(exc)))
        finally:
            # nothing more to hand out: a worker whose ready message was never read (the jobs ran
            # out first) must not keep wait_ready() waiting for its whole timeout
            self._all_ready.set()
            self._ready.put(None)

    def _fill_idle(self) -> bool:
        """Give a job to each idle worker; True once ``next_job`` has no more."""
        for slot in self._slots:
            if slot.job is None and slot.ready:
                job = self._next_job()
                if job is None:
                    return True
                slot.job, slot.started = job, time.monotonic()
                slot.inbox.put((id(job), self._path_of(job)))
        return False

    def _drain(self, pending: deque[Decoded], wait: float) -> None:
        """Move every answer waiting in the outbox to ``pending`` (blocking up to ``wait``)."""
        while True:
            try:
                msg = self._outbox.get(timeout=wait) if wait else self._outbox.get_nowait()
            except queue.Empty:
                return
            wait = 0.0
            (index, pid), key, (frames, handle), error, seconds = msg
            slot = self._slots[index]
            current = slot.proc.pid == pid and key is not None and slot.job is not None
            frames = _unshare(frames, handle, keep=current and id(slot.job) == key)
            if slot.proc.pid != pid:
                continue  # from a worker already replaced
            if key is None:
                slot.ready = True
                if all(s.ready for s in self._slots):
                    self._all_ready.set()
                continue
            if slot.job is None or id(slot.job) != key:
                continue  # a late answer from a worker already written off
            job, slot.job = slot.job, None
            pending.append(Decoded(job, frames, error, seconds))

    def _watch(self, pending: deque[Decoded]) -> None:
        """Kill and replace a worker past its deadline or dead with a job in hand."""
        now = time.monotonic()
        for i, slot in enumerate(self._slots):
            if slot.job is None:
                continue
            late = now - slot.started > self._timeout
            if not late and slot.proc.is_alive():
                continue
            why = (
                f"DecoderTimeoutError: decoding took longer than {self._timeout:g} s "
                "(raise --timeout if the video is just long)"
                if late
                else f"VideoDecodeError: the decoder process died (exit code {slot.proc.exitcode})"
            )
            job, seconds = slot.job, now - slot.started
            slot.job = None
            slot.stop(kill=True)
            self._slots[i] = _Slot(self._ctx, self._config_json, self._outbox, i, self._spec)
            pending.append(Decoded(job, None, why, seconds))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        for slot in self._slots:
            slot.stop(kill=slot.job is not None)
        self._free_unread()

    def _free_unread(self) -> None:
        """Free the shared blocks of results nobody will read (a job stopped early)."""
        while True:
            try:
                _, _, (frames, handle), _, _ = self._outbox.get(timeout=0.2)
            except (queue.Empty, OSError, EOFError):
                return
            with contextlib.suppress(FileNotFoundError):  # already freed
                _unshare(frames, handle, keep=False)

    def __enter__(self) -> DecodePool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class InlineDecoder:
    """No workers: decode each job in this process right before it is used (the sequential path).

    No timeout can be enforced here; it exists as the baseline and for debugging.
    """

    def __init__(self, next_job: Callable[[], Any], config: ContextConfig) -> None:
        self._next_job, self._config = next_job, config

    def wait_ready(self, timeout_s: float | None = None) -> float:
        """Nothing to start: 0 seconds."""
        return 0.0

    def results(self) -> Iterator[Decoded]:
        while (job := self._next_job()) is not None:
            t0 = time.perf_counter()
            try:
                frames, error = decode_video(job.video, self._config), None
            except Exception as exc:
                frames, error = None, describe(exc)
            yield Decoded(job, frames, error, time.perf_counter() - t0)

    def close(self) -> None:
        pass

    def __enter__(self) -> InlineDecoder:
        return self

    def __exit__(self, *exc: object) -> None:
        pass
