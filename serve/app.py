"""The FastAPI app: routes, the API-key check, body caps, metrics and the chat handler.

Every accepted request gets exactly one response: refusals are :class:`APIError` bodies (OpenAI's
``{"error": {...}}``), a streamed answer that fails after its first byte ends with an error event
and ``[DONE]``, and a request whose client left gets a 499 that nobody reads (counted in
``vlmctx_requests_cancelled``). The order of checks is cheap first: key, content type, body size,
JSON and fields, then media and the memory plan (in a worker thread), then the queue.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from vlmctx.config import ContextConfig
from vlmctx.engine import VideoLM
from vlmctx_serve import schema
from vlmctx_serve.errors import APIError
from vlmctx_serve.metrics import Metrics
from vlmctx_serve.prepare import Preparer, error_from
from vlmctx_serve.request import parse_chat, parse_json
from vlmctx_serve.runner import ClientGone, Gate, Generation
from vlmctx_serve.settings import MIB, ServeSettings

log = logging.getLogger("vlmctx.serve")
CHAT = "/v1/chat/completions"
PATHS = ("/health", "/metrics", "/v1/models", CHAT)
OPEN_PATHS = ("/health",)  # answered without the API key (load balancers' health checks)


class Watch:
    """Sets ``gone`` and runs hooks when the client disconnects (ASGI ``http.disconnect``)."""

    def __init__(self, request: Request) -> None:
        self.gone = asyncio.Event()
        self._hooks: list[Callable[[], None]] = []
        self._task = asyncio.create_task(self._run(request.receive))

    async def _run(self, receive: Any) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self.gone.set()
        for hook in self._hooks:
            hook()

    def on_gone(self, hook: Callable[[], None]) -> None:
        self._hooks.append(hook)
        if self.gone.is_set():
            hook()

    def stop(self) -> None:
        self._task.cancel()


class Server:
    """State of one app: the model, the settings, the queue, the metrics."""

    def __init__(self, lm: VideoLM, settings: ServeSettings, base: ContextConfig) -> None:
        self.lm, self.settings, self.base = lm, settings, base
        self.gate = Gate(settings.max_queue, settings.retry_after_s)
        self.metrics = Metrics(lambda: self.gate.waiting, lambda: int(self.gate.busy))
        self.preparer = Preparer(lm, settings)
        self.started = int(time.time())

    async def chat(self, request: Request) -> Response:
        t0 = time.perf_counter()
        body = parse_json(await read_body(request, self.settings.max_body_bytes))
        req = parse_chat(body, self.settings, self.base)
        self.gate.admit()  # 429 before anything is downloaded or planned
        watch = None
        try:
            prepared = await asyncio.to_thread(self.preparer.prepare, req)
            watch = Watch(request)
            try:
                ticket = await self.gate.enter(watch.gone)
            except BaseException:
                prepared.close()
                raise
        except BaseException:
            self.gate.leave()
            if watch is not None:
                watch.stop()
            raise
        extra = {"queue_wait_s": round(time.perf_counter() - t0, 4), **prepared.facts, **req.notes}
        gen = Generation(prepared, req.question, req.history, req.max_tokens, ticket,
                         self._count_tokens)  # fmt: skip
        watch.on_gone(gen.cancel)
        gen.start()
        kind, value = await gen.events.get()  # "ready", or the error that came before it
        if kind == "error":
            watch.stop()
            raise error_from(value)
        if req.stream:
            stream = self._events(gen, watch, req, t0, extra)
            return StreamingResponse(stream, media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache",
                                              "X-Accel-Buffering": "no"})  # fmt: skip
        try:
            answer = await _collect(gen)
        finally:
            watch.stop()
        if gen.cancelled:
            raise ClientGone()
        self._observe(gen, answer, t0)
        return JSONResponse(schema.completion(schema.completion_id(), self.settings.model,
                                              answer, req.max_tokens, extra))  # fmt: skip

    async def _events(self, gen: Generation, watch: Watch, req: Any, t0: float,
                      extra: dict) -> AsyncIterator[bytes]:  # fmt: skip
        """The SSE body: a role chunk, text chunks, a final chunk with finish_reason and the
        vlmctx field, a usage chunk when asked (``stream_options.include_usage``), ``[DONE]``."""
        cid, model = schema.completion_id(), self.settings.model
        finished = False
        try:
            yield schema.sse(schema.chunk(cid, model, {"role": "assistant", "content": ""}))
            while True:
                kind, value = await gen.events.get()
                if kind == "piece":
                    yield schema.sse(schema.chunk(cid, model, {"content": value}))
                    continue
                if kind == "error":
                    yield schema.sse(error_from(value).body())
                else:
                    reason = schema.finish_reason(value, req.max_tokens)
                    yield schema.sse(schema.chunk(cid, model, {}, reason,
                                                  vlmctx=schema.facts(value, extra)))  # fmt: skip
                    if req.include_usage:
                        yield schema.sse(schema.chunk(cid, model, None, usage=schema.usage(value)))
                    self._observe(gen, value, t0)
                break
            yield schema.sse("[DONE]")
            finished = True
        finally:
            watch.stop()
            if not finished:  # the client left mid-stream: stop at the next token
                gen.cancel()
                self.metrics.cancelled.inc()

    def _observe(self, gen: Generation, answer: Any, t0: float) -> None:
        m, now = self.metrics, time.perf_counter()
        m.latency.observe(now - t0)
        m.ttft.observe((gen.first_piece_at or now) - t0)

    def _count_tokens(self, answer: Any) -> None:
        """Tokens of every generation that ran, a cancelled one's included (work done)."""
        self.metrics.prompt_tokens.inc(answer.total_tokens)
        self.metrics.completion_tokens.inc(answer.new_tokens)


async def _collect(gen: Generation) -> Any:
    """Wait for the answer of a non-streamed request (its pieces are not needed)."""
    while True:
        kind, value = await gen.events.get()
        if kind == "done":
            return value
        if kind == "error":
            raise error_from(value)


async def read_body(request: Request, cap: int) -> bytes:
    """The body, refused with 415 unless JSON and with 413 past ``cap`` bytes (declared or read)."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise APIError(415, f"send the body as JSON with Content-Type: application/json "
                       f"(got {ctype or 'none'!r})", code="unsupported_media_type")  # fmt: skip
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise _too_large(cap)
    size, parts = 0, []
    async for part in request.stream():
        size += len(part)
        if size > cap:
            raise _too_large(cap)
        parts.append(part)
    return b"".join(parts)


def _too_large(cap: int) -> APIError:
    return APIError(413, f"the request body is larger than {cap / MIB:g} MiB (the server's "
                    "--max-body-mb)", code="body_too_large")  # fmt: skip


def create_app(lm: VideoLM, settings: ServeSettings, base: ContextConfig | None = None) -> FastAPI:
    """The app serving ``lm`` under ``settings``; ``base`` is the configuration requests start
    from (the server's context flags; default: ``ContextConfig()``, as `vlmctx ask`)."""
    server = Server(lm, settings, base or ContextConfig())
    app = FastAPI(title="vlmctx serve", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.server = server
    _add_handlers(app, server)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "model": settings.model}

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        card = {"id": settings.model, "object": "model", "created": server.started,
                "owned_by": "vlmctx"}  # fmt: skip
        return {"object": "list", "data": [card]}

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(server.metrics.text(), media_type="text/plain; version=0.0.4")

    app.add_api_route(CHAT, server.chat, methods=["POST"])
    return app


def _add_handlers(app: FastAPI, server: Server) -> None:
    @app.exception_handler(APIError)
    async def api_error(request: Request, exc: APIError) -> Response:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(ClientGone)
    async def client_gone(request: Request, exc: ClientGone) -> Response:
        server.metrics.cancelled.inc()
        return Response(status_code=499)  # nginx's "client closed request": nobody reads it

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        err = APIError(exc.status_code, f"{request.method} {request.url.path}: {exc.detail}",
                       code="not_found" if exc.status_code == 404 else None)  # fmt: skip
        return JSONResponse(err.body(), status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s", request.url.path)
        err = error_from(exc)
        return JSONResponse(err.body(), status_code=err.status)

    app.add_middleware(KeyAndCount, server=server)


class KeyAndCount:
    """ASGI middleware: the API-key check (401 before the body is read) and the request counter
    by path and status. Plain ASGI, so the handlers see the client's disconnect unwrapped."""

    def __init__(self, app: Any, server: Server) -> None:
        self.app, self.server = app, server

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = [500]

        async def counted(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        path = scope["path"]
        try:
            if (
                self.server.settings.api_key
                and path not in OPEN_PATHS
                and not _key_ok(Request(scope), self.server)
            ):
                err = APIError(401, "missing or invalid API key: send Authorization: Bearer "
                               "KEY (the server's --api-key or VLMCTX_API_KEY)",
                               code="invalid_api_key")  # fmt: skip
                response = JSONResponse(err.body(), status_code=401,
                                        headers={"WWW-Authenticate": "Bearer"})  # fmt: skip
                await response(scope, receive, counted)
            else:
                await self.app(scope, receive, counted)
        finally:
            label = path if path in PATHS else "other"
            self.server.metrics.requests.labels(label, str(status[0])).inc()


def _key_ok(request: Request, server: Server) -> bool:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    key = server.settings.api_key or ""
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), key.encode())
