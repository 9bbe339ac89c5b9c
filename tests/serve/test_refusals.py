"""Raw HTTP against a live `vlmctx serve` app (toylab): every abuse case is refused with the
right status and an OpenAI-style error, and nothing outside the allowed folder is read."""

from __future__ import annotations

import base64
import http.client
import json
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from tests.serve.conftest import KEY, SECRET, Media, running, settings_for, video_message

MODEL = "toylab"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def base(media: Media) -> Iterator[str]:
    from vlmctx.engine import VideoLM
    from vlmctx_serve.app import create_app

    lm = VideoLM.load(MODEL, device="cpu")
    settings = settings_for(media, MODEL, max_question_chars=500, max_new_tokens=64)
    with running(create_app(lm, settings)) as url:
        yield url


def post(base: str, body: object, headers: dict | None = None, raw: bytes | None = None):
    h = {"Content-Type": "application/json", **AUTH, **(headers or {})}
    data = raw if raw is not None else json.dumps(body).encode()
    return httpx.post(base + "/v1/chat/completions", content=data, headers=h, timeout=60)


def error(r: httpx.Response, status: int) -> dict:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(err) >= {"message", "type", "param", "code"}
    return err


def chat(url: str, kind: str = "video_url") -> dict:
    return {"model": MODEL, "messages": video_message(url, kind=kind)}


def test_malformed_json_and_shapes(base: str) -> None:
    assert (
        error(post(base, None, raw=b'{"model": "toylab", "messages": ['), 400)["code"]
        == "invalid_json"
    )
    assert "JSON object" in error(post(base, [1, 2]), 400)["message"]
    assert error(post(base, {"model": MODEL}), 400)["param"] == "messages"
    assert error(post(base, {"model": MODEL, "messages": "hi"}), 400)["param"] == "messages"
    last = {"model": MODEL, "messages": [{"role": "assistant", "content": "x"}]}
    assert "user" in error(post(base, last), 400)["message"]
    empty = {"model": MODEL, "messages": [{"role": "user", "content": "   "}]}
    assert "empty" in error(post(base, empty), 400)["message"]


def test_unknown_model_and_routes(base: str) -> None:
    err = error(
        post(base, {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}), 404
    )
    assert err["code"] == "model_not_found" and err["param"] == "model"
    assert error(httpx.get(base + "/v1/nothing", headers=AUTH), 404)["code"] == "not_found"
    assert error(httpx.get(base + "/v1/chat/completions", headers=AUTH), 405)


def test_wrong_content_types(base: str) -> None:
    r = post(base, None, headers={"Content-Type": "text/plain"}, raw=b"{}")
    assert error(r, 415)["code"] == "unsupported_media_type"
    audio = {"model": MODEL, "messages": [{"role": "user", "content": [
        {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}]}]}  # fmt: skip
    assert "input_audio" in error(post(base, audio), 400)["message"]
    assert "video/" in error(post(base, chat("data:text/plain;base64,AAAA")), 400)["message"]
    bad_png = chat(
        "data:image/png;base64," + base64.b64encode(b"not an image").decode(), "image_url"
    )
    assert "readable image" in error(post(base, bad_png), 400)["message"]
    not_video = post(base, chat("data:video/mp4;base64," + base64.b64encode(b"\0" * 100).decode()))
    assert error(not_video, 400)["code"] == "invalid_video"
    assert "base64" in error(post(base, chat("data:video/mp4,AAAA")), 400)["message"]
    assert "scheme 'ftp'" in error(post(base, chat("ftp://127.0.0.1/x.mp4")), 400)["message"]


def test_sampling_parameters_other_than_greedy_are_refused(base: str) -> None:
    body = {**chat("clip.mp4"), "temperature": 0.7}
    assert "greedily" in error(post(base, body), 400)["message"]
    assert error(post(base, {**chat("clip.mp4"), "n": 2}), 400)["param"] == "n"
    assert (
        "--max-new-tokens"
        in error(post(base, {**chat("clip.mp4"), "max_tokens": 65}), 400)["message"]
    )


@pytest.mark.parametrize(
    "url",
    [
        "../outside/secret.txt",
        "{allowed}/../outside/secret.txt",
        "file://{allowed}/%2e%2e/outside/secret.txt",
        "file://{allowed}/%2E%2E/%2e%2e/%2e%2e/etc/passwd",
        "escape.mp4",  # a symlink in the allowed folder to a file outside it
        "escape-dir/secret.txt",  # a symlinked folder
        "/etc/passwd",
        "file:///etc/passwd",
        "file://localhost/etc/passwd",
        "/proc/self/environ",
        "file:///proc/self/environ",
        "~/.bashrc",
    ],
)
def test_path_traversal_is_refused(base: str, media: Media, url: str) -> None:
    url = url.format(allowed=media.allowed)
    r = post(base, chat(url))
    err = error(r, 400)
    assert err["code"] == "media_path_not_allowed", err
    assert "--allowed-media-dir" in err["message"]
    assert SECRET.decode() not in r.text and "PATH=" not in r.text


def test_file_urls_with_a_host_and_nul_bytes_are_refused(base: str, media: Media) -> None:
    assert error(post(base, chat("file://evil.com/etc/passwd")), 400)
    assert error(post(base, chat(f"{media.clip}\x00.png")), 400)
    assert "no media file" in error(post(base, chat("missing.mp4")), 400)["message"]


def test_disallowed_hosts_and_redirects(base: str, media: Media) -> None:
    err = error(post(base, chat(media.other_host + "/clip.mp4")), 400)
    assert err["code"] == "media_domain_not_allowed" and "--allowed-media-domains" in err["message"]
    err = error(post(base, chat(media.allowed_host + "/to-other")), 400)
    assert err["code"] == "media_redirect_refused"
    port = urlsplit(media.allowed_host).port
    for url in (f"http://localhost:{port}/clip.mp4", f"http://user:pw@127.0.0.1:{port}/clip.mp4",
                f"https://127.0.0.1:{port}/clip.mp4"):  # fmt: skip
        assert error(post(base, chat(url)), 400)


def test_oversize_bodies_and_media(base: str, media: Media) -> None:
    huge = b'{"model": "toylab", "pad": "' + b"x" * (5 << 20) + b'"}'
    assert "--max-body-mb" in error(post(base, None, raw=huge), 413)["message"]
    chunked = _chunked(base, huge)  # no Content-Length to refuse early
    assert chunked[0] == 413 and b"--max-body-mb" in chunked[1]
    big_data = "data:video/mp4;base64," + base64.b64encode(b"\0" * (1 << 20 + 1)).decode()
    err = error(post(base, chat(big_data)), 400)
    assert err["code"] == "media_too_large" and "--max-media-mb" in err["message"]
    err = error(post(base, chat(media.allowed_host + "/big")), 400)
    assert err["code"] == "media_too_large"
    words = {"model": MODEL, "messages": [{"role": "user", "content": "why " * 200}]}
    assert "--max-question-chars" in error(post(base, words), 400)["message"]


def _chunked(base: str, body: bytes) -> tuple[int, bytes]:
    """POST ``body`` with chunked transfer encoding (no Content-Length to refuse early)."""
    u = urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    try:
        conn.putrequest("POST", "/v1/chat/completions")
        for k, v in {
            "Content-Type": "application/json",
            "Transfer-Encoding": "chunked",
            **AUTH,
        }.items():
            conn.putheader(k, v)
        conn.endheaders()
        step = 1 << 20
        for i in range(0, len(body), step):
            part = body[i : i + step]
            try:
                conn.send(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            except (BrokenPipeError, ConnectionResetError):
                break
        else:
            conn.send(b"0\r\n\r\n")
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def test_media_only_in_the_first_user_message(base: str, media: Media) -> None:
    msgs = [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "hi"},
            *video_message("clip.mp4")]  # fmt: skip
    assert (
        "first user message"
        in error(post(base, {"model": MODEL, "messages": msgs}), 400)["message"]
    )


def test_api_key(base: str) -> None:
    body = json.dumps(chat("clip.mp4")).encode()
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}):
        r = httpx.post(base + "/v1/chat/completions", content=body,
                       headers={"Content-Type": "application/json", **headers})  # fmt: skip
        assert error(r, 401)["code"] == "invalid_api_key"
        assert r.headers["www-authenticate"] == "Bearer"
    assert httpx.get(base + "/v1/models").status_code == 401
    assert httpx.get(base + "/metrics").status_code == 401
    assert httpx.get(base + "/health").status_code == 200


def test_the_server_answers_after_all_that(base: str, media: Media) -> None:
    r = post(base, chat("clip.mp4"))
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"]
    with socket.create_connection(("127.0.0.1", urlsplit(base).port)) as s:  # still listening
        assert s


def test_frame_counts_and_nesting_are_capped_before_any_allocation(base: str) -> None:
    for extra in ({"frames": 10**6}, {"sampler": "segment", "sampler_args": {"n": 10**9}},
                  {"sampler": "window", "sampler_args": {"inner_params": {"n": 10**9}}},
                  {"sampler": "fps", "sampler_args": {"min_frames": 10**9}}):  # fmt: skip
        err = error(post(base, {**chat("clip.mp4"), **extra}), 400)
        assert err["code"] == "too_many_frames" and "--max-frames" in err["message"], extra
    deep = b'{"model": "toylab", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert error(post(base, None, raw=deep), 400)["code"] == "invalid_json"
