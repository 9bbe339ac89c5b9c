"""A demo server on a free localhost port with a tiny model, shared by the demo tests."""

from __future__ import annotations

import argparse
import socket

import pytest

TINY = "tiny-qwen2_vl"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory: pytest.TempPathFactory):
    """(Blocks, base URL, cache dir) of a running demo; closed at the end of the session."""
    pytest.importorskip("gradio", reason="the demo needs gradio (pip install 'vlmctx[demo]')")
    from vlmctx_demos.cli import launch

    cache = tmp_path_factory.mktemp("demo-cache")
    args = argparse.Namespace(
        model=TINY,
        device="cpu",
        dtype="auto",
        host="127.0.0.1",
        port=free_port(),
        concurrency=1,
        queue_size=8,
        max_upload_mb=5.0,
        cache_dir=str(cache),
    )
    demo, url = launch(args, block=False)
    yield demo, url.rstrip("/"), cache
    demo.close()
