"""The queue in front of the model and the thread that runs one request on it.

:class:`Gate` admits a request before anything is fetched or planned for it, and lets one request
at a time onto the model (``VideoLM`` calls are serialised by the model's lock anyway; the gate
makes the wait visible and bounded): with one on the model, up to ``--max-queue`` more may be
admitted (preparing or waiting); beyond that a request is refused at once with 429 and
``Retry-After``, before its media are downloaded. A client that goes away while waiting leaves
the queue.

:class:`Generation` runs ``VideoLM.ask(..., stream=True)`` (decoding, prompt, generate) in its own
thread and hands events to the event loop: ``ready`` (inputs built, generation started),
``piece`` (text), then ``done`` (the :class:`~vlmctx.engine.Answer`) or ``error``. ``cancel()``
closes the :class:`~vlmctx.engine.AnswerStream`, which stops generation at the next token. The
gate's slot is given back only when the generation thread has ended, so the next request finds
the model free.
"""

from __future__ import annotations

import asyncio
import ctypes
import threading
import time
from collections.abc import Callable
from typing import Any

from vlmctx_serve.errors import APIError
from vlmctx_serve.prepare import Prepared


def _libc() -> Any:
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (macOS, musl): nothing to trim
        return None


_LIBC = _libc()


def release_freed_memory() -> None:
    """Hand memory freed by the request back to the system (glibc ``malloc_trim``). Each request
    runs in new threads, and glibc keeps what they freed in its arenas; without this the served
    process's RSS grew by megabytes per request on a 64-frame load (eval/bench/serve_load.py)."""
    if _LIBC is not None and hasattr(_LIBC, "malloc_trim"):
        _LIBC.malloc_trim(0)


class ClientGone(Exception):
    """The client disconnected; nobody reads the response any more."""


class Ticket:
    """One request's slot on the model; ``release`` (from any thread) gives it back once, and
    with it the request's admission."""

    def __init__(self, gate: Gate) -> None:
        self._gate = gate
        self._lock = threading.Lock()
        self._held = True

    def release(self) -> None:
        with self._lock:
            if not self._held:
                return
            self._held = False
        self._gate._loop.call_soon_threadsafe(self._gate._free, True)


class Gate:
    """One request on the model, at most ``max_queue`` more admitted, the rest refused (429).
    Event-loop thread only, except :meth:`Ticket.release`."""

    def __init__(self, max_queue: int, retry_after_s: int) -> None:
        self.max_queue, self.retry_after_s = max_queue, retry_after_s
        self.admitted = 0  # requests preparing, waiting or on the model
        self.waiting = 0  # requests waiting for the model
        self.busy = False
        self._waiters: list[asyncio.Future] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def admit(self) -> None:
        """Count a new request in, or refuse it (429) when the queue is full."""
        if self.admitted >= self.max_queue + 1:
            raise APIError(429, f"the server is busy (one request on the model, {self.max_queue} "
                           "more admitted: the server's --max-queue); retry later",
                           code="queue_full", headers={"Retry-After": str(self.retry_after_s)})  # fmt: skip
        self.admitted += 1

    def leave(self) -> None:
        """An admitted request ended before it got the model (refused, failed, gone)."""
        self.admitted -= 1

    async def enter(self, gone: asyncio.Event) -> Ticket:
        """Wait for the model (an admitted request); raise :class:`ClientGone` when ``gone``
        is set while waiting. The caller calls :meth:`leave` if this raises."""
        self._loop = asyncio.get_running_loop()
        if not self.busy and not self._waiters:
            self.busy = True
            return Ticket(self)
        turn = self._loop.create_future()
        self._waiters.append(turn)
        self.waiting = len(self._waiters)
        watcher = asyncio.ensure_future(gone.wait())
        try:
            await asyncio.wait({turn, watcher}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            watcher.cancel()
            if not turn.done():  # gone (or cancelled) while waiting: leave the queue
                self._waiters.remove(turn)
                turn.cancel()
            self.waiting = len(self._waiters)
        if turn.cancelled() or not turn.done():
            raise ClientGone()
        if gone.is_set():  # handed the slot just as the client left: pass it on
            self._free()
            raise ClientGone()
        return Ticket(self)

    def _free(self, done: bool = False) -> None:
        """Hand the model to the first waiter, or mark it free; ``done``: the request that had
        it has ended (its admission too)."""
        if done:
            self.admitted -= 1
        while self._waiters:
            turn = self._waiters.pop(0)
            self.waiting = len(self._waiters)
            if not turn.done():
                turn.set_result(True)
                return
        self.busy = False


class Generation:
    """One prepared request running on the model in a thread; events on ``events``."""

    def __init__(self, prepared: Prepared, question: str, history: list, max_tokens: int,
                 ticket: Ticket, on_answer: Callable[[Any], None] | None = None) -> None:  # fmt: skip
        self.prepared, self.question, self.history = prepared, question, history
        self.max_tokens, self.ticket = max_tokens, ticket
        self.on_answer = on_answer  # called on the event loop with every answer, cancelled too
        self.events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        self._stream: Any = None
        self._cancelled = threading.Event()
        self.first_piece_at: float | None = None
        self.thread = threading.Thread(target=self._run, name="vlmctx-serve-gen", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def cancel(self) -> None:
        """Stop generation at the next token (the consumer is gone); safe from any thread."""
        self._cancelled.set()
        stream = self._stream
        if stream is not None:
            stream.close(timeout=0)  # sets the stop event; the thread joins it itself

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def _put(self, kind: str, value: Any = None) -> None:
        self._loop.call_soon_threadsafe(self.events.put_nowait, (kind, value))

    def _run(self) -> None:
        p = self.prepared
        stream = None
        try:
            stream = p.lm.ask(p.video, self.question, history=self.history,
                              max_new_tokens=self.max_tokens, stream=True,
                              subtitles=p.subtitles)  # fmt: skip
            self._stream = stream
            if self._cancelled.is_set():
                stream.close(timeout=0)
            self._put("ready")
            for piece in stream:
                if piece:
                    if self.first_piece_at is None:
                        self.first_piece_at = time.perf_counter()
                    self._put("piece", piece)
            if self.on_answer is not None and stream.answer is not None:
                self._loop.call_soon_threadsafe(self.on_answer, stream.answer)
            self._put("done", stream.answer)
        except BaseException as exc:  # handed to the request's handler, which answers once
            self._put("error", exc)
        finally:
            if stream is not None:
                stream.close(timeout=None)  # the generation thread has ended: the model is free
            p.close()
            release_freed_memory()
            self.ticket.release()
