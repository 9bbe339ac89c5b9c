"""Live `vlmctx serve` apps on free 127.0.0.1 ports, and the media they may (not) read.

Each test module starts its own server (a module fixture) on a real socket; the media fixtures
lay out an allowed folder, a folder outside it holding a secret, a symlink that escapes, and two
local HTTP hosts (two ports of 127.0.0.1: one allowed, one not)."""

from __future__ import annotations

import http.server
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="vlmctx serve needs its extra: pip install 'vlmctx[serve]'")
pytest.importorskip("prometheus_client", reason="pip install 'vlmctx[serve]'")

KEY = "test-key-123"
SECRET = b"TOP-SECRET-CONTENT-0451"
QUESTION = "What colour is the ball?"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running(app) -> Iterator[str]:  # noqa: ANN001
    """Serve ``app`` with uvicorn on a free 127.0.0.1 port; yields the base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


@dataclass
class Media:
    allowed: Path  # --allowed-media-dir
    outside: Path  # a folder next to it, never served
    clip: Path  # the sample video inside the allowed folder
    image: Path  # a PNG inside it
    allowed_host: str  # http://127.0.0.1:PORT of the allowed media host
    other_host: str  # http://127.0.0.1:PORT2, never allowed


class _Handler(http.server.BaseHTTPRequestHandler):
    """/clip.mp4, /big (2 MiB), /to-other (302 to the other host), /to-same (302 to /clip.mp4)."""

    clip = b""
    other = ""
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802
        type(self).hits.append(self.path)
        if self.path == "/clip.mp4":
            self._send(200, self.clip, "video/mp4")
        elif self.path == "/big":
            self._send(200, b"\0" * (2 << 20), "video/mp4")
        elif self.path in ("/to-other", "/to-same"):
            target = self.other + "/clip.mp4" if self.path == "/to-other" else "/clip.mp4"
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self._send(404, b"no", "text/plain")

    def _send(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Media]:
    from PIL import Image

    from vlmctx.runtime.assets import sample_video

    root = tmp_path_factory.mktemp("serve-media")
    allowed, outside = root / "allowed", root / "outside"
    allowed.mkdir()
    outside.mkdir()
    clip = allowed / "clip.mp4"
    shutil.copy(sample_video(), clip)
    Image.new("RGB", (64, 48), (200, 30, 30)).save(allowed / "still.png")
    shutil.copy(sample_video(), outside / "secret.mp4")
    (outside / "secret.txt").write_bytes(SECRET)
    (allowed / "escape.mp4").symlink_to(outside / "secret.mp4")
    (allowed / "escape-dir").symlink_to(outside, target_is_directory=True)
    handler = type("Handler", (_Handler,), {"clip": clip.read_bytes(), "hits": []})
    servers = [http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) for _ in range(2)]
    urls = [f"http://127.0.0.1:{s.server_address[1]}" for s in servers]
    handler.other = urls[1]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for t in threads:
        t.start()
    yield Media(allowed, outside, clip, allowed / "still.png", urls[0], urls[1])
    for s in servers:
        s.shutdown()
        s.server_close()


def settings_for(media: Media, model: str, **overrides: object):  # -> ServeSettings
    """Settings allowing the media folder and the first host, with a key and small caps."""
    from vlmctx_serve.settings import ServeSettings

    kw: dict[str, object] = dict(
        model=model,
        allowed_media_dirs=ServeSettings.resolve_dirs([str(media.allowed)]),
        allowed_media_domains=(media.allowed_host.removeprefix("http://"),),
        max_media_bytes=1 << 20,
        max_body_bytes=4 << 20,
        media_timeout_s=10.0,
        api_key=KEY,
    )
    kw.update(overrides)
    return ServeSettings(**kw)


def video_message(url: str, question: str = QUESTION, kind: str = "video_url") -> list[dict]:
    return [{"role": "user", "content": [{"type": kind, kind: {"url": url}},
                                         {"type": "text", "text": question}]}]  # fmt: skip
