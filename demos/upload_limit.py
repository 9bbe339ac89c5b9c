"""The upload limit's message: an ASGI middleware that replaces the body of the server's 413
response ("File size exceeded maximum allowed size of N bytes.", Gradio's own text from its upload
route) with one that says what to do.

Gradio has no setting for that text: its ``/gradio_api/upload`` route catches the multipart
parser's ``MultiPartException`` and returns ``PlainTextResponse(exc.message, status_code=413)``
itself (gradio/routes.py, ``upload_file``), and the component-server route raises
``HTTPException(413, detail=exc.message)``. What Gradio does let us do is pass keyword arguments to
the FastAPI app it creates (``launch(app_kwargs=...)``), and FastAPI takes a ``middleware`` list
there, installed before the app starts (Starlette refuses ``add_middleware`` on a running app).
So the demo hands this middleware in through ``app_kwargs`` (demos/cli.py) and every 413 the app
sends, whatever its route, carries the message below. Pure ASGI (no ``BaseHTTPMiddleware``), so
streamed responses (the queue's server-sent events) pass through untouched.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def upload_limit_message(max_upload_mb: float) -> str:
    """What a user whose upload is over the limit should read."""
    return (
        f"This video is larger than this server's upload limit of {max_upload_mb:g} MB. Trim or "
        "downscale it (e.g. ffmpeg -i in.mp4 -t 600 -vf scale=-2:480 out.mp4) and upload again, "
        "or ask about the whole file on your own machine with the command line: "
        "vlmctx ask VIDEO 'your question' (no size limit). The server's operator can raise the "
        "limit with vlmctx demo --max-upload-mb."
    )


class UploadLimitMessage:
    """Rewrite the body of every 413 response to ``message`` (text/plain, UTF-8)."""

    def __init__(self, app: Callable[..., Awaitable[None]], message: str) -> None:
        self.app = app
        self.body = message.encode("utf-8")

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rewriting = False

        async def send_rewritten(message: Message) -> None:
            nonlocal rewriting
            if message["type"] == "http.response.start" and message["status"] == 413:
                rewriting = True
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.lower() not in (b"content-length", b"content-type", b"content-encoding")
                ]
                headers += [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(self.body)).encode()),
                ]
                await send({**message, "headers": headers})
                return
            if rewriting and message["type"] == "http.response.body":
                if not message.get("more_body", False):  # the original body is dropped
                    await send({"type": "http.response.body", "body": self.body})
                return
            await send(message)

        await self.app(scope, receive, send_rewritten)
