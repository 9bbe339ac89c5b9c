"""Clients that leave and a full queue, on a live `vlmctx serve` app with a tiny random model
(it never stops by itself before ``max_tokens``, so a long generation is easy to start): a client
that disconnects mid-stream or mid-wait frees the model (generation stops at the next token), a
full queue answers 429 with Retry-After, and the next request is answered."""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from tests.serve.conftest import KEY, Media, running, settings_for, video_message

MODEL = "tiny-qwen2_vl"
LONG = 50_000  # tokens: minutes of generation unless cancelled
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def base(media: Media) -> Iterator[str]:
    from vlmctx.engine import VideoLM
    from vlmctx_serve.app import create_app

    lm = VideoLM.load(MODEL, device="cpu")
    settings = settings_for(media, MODEL, max_new_tokens=LONG, max_queue=1, retry_after_s=7)
    with running(create_app(lm, settings)) as url:
        yield url


def body(max_tokens: int, stream: bool = False) -> dict:
    return {"model": MODEL, "messages": video_message("clip.mp4"), "max_tokens": max_tokens,
            "stream": stream, "frames": 4}  # fmt: skip


def metric(base: str, name: str) -> float:
    text = httpx.get(base + "/metrics", headers=AUTH).text
    m = re.search(rf"^{name} (\S+)$", text, re.M)
    assert m, name
    return float(m[1])


def wait_for(base: str, name: str, value: float, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while metric(base, name) != value:
        assert time.monotonic() < deadline, f"{name} never reached {value}"
        time.sleep(0.05)


def raw_request(base: str, payload: dict) -> socket.socket:
    """Send a chat request on a raw socket and return it, unread (close it to disconnect)."""
    u = urlsplit(base)
    data = json.dumps(payload).encode()
    s = socket.create_connection((u.hostname, u.port))
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              + f"Authorization: Bearer {KEY}\r\nContent-Length: {len(data)}\r\n\r\n".encode()
              + data)  # fmt: skip
    return s


def open_stream(base: str) -> tuple[httpx.Client, object]:
    """A long streamed request, read up to its first event (generation is running). Keep the
    returned line iterator alive: dropping it closes the connection (httpcore closes on
    GeneratorExit)."""
    client = httpx.Client(timeout=60)
    r = client.send(client.build_request("POST", base + "/v1/chat/completions",
                                         json=body(LONG, True), headers=AUTH), stream=True)  # fmt: skip
    assert r.status_code == 200
    lines = r.iter_lines()
    first = next(lines)
    assert first.startswith("data: ") and "chat.completion.chunk" in first
    return client, lines


def test_disconnect_mid_stream_frees_the_model(base: str) -> None:
    before = metric(base, "vlmctx_completion_tokens_total")
    client, _lines = open_stream(base)
    assert metric(base, "vlmctx_requests_running") == 1.0
    client.close()  # the client goes away mid-stream
    wait_for(base, "vlmctx_requests_running", 0.0)
    assert metric(base, "vlmctx_requests_cancelled_total") >= 1
    assert metric(base, "vlmctx_completion_tokens_total") - before < LONG  # stopped early
    t0 = time.monotonic()
    r = httpx.post(base + "/v1/chat/completions", json=body(4), headers=AUTH, timeout=60)
    assert r.status_code == 200 and r.json()["usage"]["completion_tokens"] == 4
    assert r.json()["vlmctx"]["queue_wait_s"] < time.monotonic() - t0


def test_full_queue_is_429_and_a_waiting_client_that_leaves_frees_its_place(base: str) -> None:
    client, _lines = open_stream(base)  # on the model
    waiting = raw_request(base, body(4))  # waits (max_queue 1)
    wait_for(base, "vlmctx_queue_depth", 1.0)
    r = httpx.post(base + "/v1/chat/completions", json=body(4), headers=AUTH, timeout=60)
    assert r.status_code == 429 and r.headers["retry-after"] == "7"
    assert (
        r.json()["error"]["code"] == "queue_full" and "--max-queue" in r.json()["error"]["message"]
    )
    waiting.close()  # leaves the queue before its turn
    wait_for(base, "vlmctx_queue_depth", 0.0)
    client.close()
    wait_for(base, "vlmctx_requests_running", 0.0)
    r = httpx.post(base + "/v1/chat/completions", json=body(4), headers=AUTH, timeout=60)
    assert r.status_code == 200


def test_disconnect_during_a_non_streamed_answer_frees_the_model(base: str) -> None:
    cancelled = metric(base, "vlmctx_requests_cancelled_total")
    s = raw_request(base, body(LONG))
    wait_for(base, "vlmctx_requests_running", 1.0)
    s.close()
    wait_for(base, "vlmctx_requests_running", 0.0)
    wait_for(base, "vlmctx_requests_cancelled_total", cancelled + 1)
    r = httpx.post(base + "/v1/chat/completions", json=body(4, True), headers=AUTH, timeout=60)
    assert r.status_code == 200 and r.text.rstrip().endswith("data: [DONE]")
