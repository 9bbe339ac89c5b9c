"""Decoding ahead of inference: a pool of decode worker processes with per-item timeouts.

The model should never wait on the decoder when it need not, so while the main process runs the
model on one video, worker processes sample and decode the next ones (``prefetch`` finished videos
are kept ready). Workers are processes, not threads, for two reasons: a hung decoder (decord holds
the GIL when it hangs) can be killed, and decoding then never competes with the model for the GIL.
A worker that exceeds ``timeout_s`` on a video, or dies, is killed and replaced, and that video is
reported as failed; the job goes on.

Each worker decodes exactly as :meth:`vlmctx.engine.VideoLM.frames` does: ``probe`` ->
``SAMPLERS.create(config.sampler).select`` -> ``read_frames``.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from vlmctx.config import ContextConfig

log = logging.getLogger(__name__)
_POLL_S = 0.1


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


DEFAULT_DECODER = "pipelines.batch.decode:decode_video"


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _load_decoder(spec: str) -> Callable[[str, ContextConfig], Any]:
    """``"module:function"`` -> the function (a picklable way to name the decoder)."""
    import importlib

    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def _warm_up() -> None:
    """Import the decoders (torchcodec loads torch: seconds) before the worker says it is ready,
    so that a video's timeout counts decoding only."""
    import av  # noqa: F401

    try:
        from vlmctx.video import available_backends

        available_backends()
    except ImportError:  # pragma: no cover - an older vlmctx.video
        pass


def _worker_main(config_json: str, inbox: Any, outbox: Any, slot: int, spec: str) -> None:
    _warm_up()
    decode = _load_decoder(spec)
    config = ContextConfig.from_json(config_json)
    me = (slot, os.getpid())
    outbox.put((me, None, None, None, 0.0))  # ready
    while True:
        msg = inbox.get()
        if msg is None:
            return
        key, path = msg
        t0 = time.perf_counter()
        try:
            outbox.put((me, key, decode(path, config), None, time.perf_counter() - t0))
        except Exception as exc:  # any decoder failure is this item's error, not the job's
            outbox.put((me, key, None, describe(exc), time.perf_counter() - t0))


class _Slot:
    def __init__(self, ctx: Any, config_json: str, outbox: Any, index: int, spec: str) -> None:
        self.inbox = ctx.Queue()
        self.proc = ctx.Process(
            target=_worker_main, args=(config_json, self.inbox, outbox, index, spec), daemon=True
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
        self._thread = threading.Thread(target=self._dispatch, name="decode-dispatch", daemon=True)
        self._thread.start()

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
            (index, pid), key, frames, error, seconds = msg
            slot = self._slots[index]
            if slot.proc.pid != pid:
                continue  # from a worker already replaced
            if key is None:
                slot.ready = True
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
