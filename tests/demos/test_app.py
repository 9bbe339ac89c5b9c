"""The demo's handlers with a real tiny model, and the server's file-serving rules over HTTP."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

gr = pytest.importorskip("gradio", reason="the demo needs gradio (pip install 'vlmctx[demo]')")

from tests.demos.conftest import TINY  # noqa: E402
from vlmctx_demos.app import DemoApp, Session, make_config  # noqa: E402
from vlmctx_demos.readout import memory_plan_for  # noqa: E402


@pytest.fixture(scope="module")
def app() -> DemoApp:
    from vlmctx.engine import VideoLM

    return DemoApp(VideoLM.load(TINY, device="cpu"), max_upload_mb=50)


def _run(app: DemoApp, video: str, q: str, chat: list, session: Session | None) -> list[tuple]:
    return list(app.respond(video, q, chat, session, 8, *app.controls(n_frames=6)))


def test_answer_streams_with_gallery_readout_and_no_redecode(app: DemoApp, monkeypatch) -> None:
    import vlmctx.video as video_mod
    from vlmctx.runtime.assets import sample_video

    calls = []
    real = video_mod.read_frames
    monkeypatch.setattr(video_mod, "read_frames", lambda *a, **k: calls.append(1) or real(*a, **k))
    sample = str(sample_video())
    steps = _run(app, sample, "What colour is the ball?", [], None)
    chat, gallery, readout, session, box, timeline = steps[0]
    assert len(gallery) == 6 and box == ""
    assert timeline.count('class="vt-tick"') == 6  # one tick per sampled frame
    captions = [c for _, c in gallery]
    stamps = [float(c.split("@ ")[1].rstrip(" s")) for c in captions]
    assert stamps == sorted(stamps) and stamps[0] >= 0.0 and stamps[-1] < 12.0
    assert [f"{t:.2f}" for t in session.frames.pts_s] == [f"{t:.2f}" for t in stamps]
    assert len(steps) >= 3  # first yield, >= 1 streamed piece, final readout
    final_chat, _, final_readout, session, _, _ = steps[-1]
    assert final_chat[-1]["role"] == "assistant" and session.history[0][0].startswith("What")
    for stage in ("decode", "encode", "prefill", "generate"):
        assert f"time: {stage}" in final_readout
    assert "memory planned" in final_readout and "visual tokens" in final_readout
    assert calls == [1]
    # follow-up: same video and config -> frames reused, the question sees the history
    steps2 = _run(app, sample, "And after 8 seconds?", final_chat, session)
    chat2, _, readout2, session2, _, _ = steps2[-1]
    assert calls == [1], "a follow-up question decoded the video again"
    assert "reused" in readout2 and len(session2.history) == 2 and len(chat2) == 4
    # another frame count is another context: decoded again, chat kept (same video)
    list(app.respond(sample, "Again?", chat2, session2, 4, *app.controls(n_frames=3)))
    assert calls == [1, 1] and len(session2.history) == 3


def _run_with(app: DemoApp, video: str, **controls: object) -> list[tuple]:
    return list(app.respond(video, "q", [], None, 4, *app.controls(**controls)))


def test_clear_messages_for_bad_input(app: DemoApp, tmp_path: Path) -> None:
    from vlmctx.runtime.assets import sample_video

    with pytest.raises(gr.Error, match="upload one"):
        _run(app, None, "q", [], None)
    big = tmp_path / "big.mp4"
    big.write_bytes(b"\0" * (51 * 2**20))
    with pytest.raises(gr.Error, match="accepts up to 50 MB"):
        _run(app, str(big), "q", [], None)
    with pytest.raises(gr.Error, match="full must be in"):  # a typed field out of range
        _run_with(app, str(sample_video()), progressive={"full": 9}, pooling="progressive")
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"this is not a video" * 100)
    with pytest.raises(gr.Error):
        _run(app, str(bad), "q", [], None)


def test_planned_memory_is_budget_plan_memory(app: DemoApp, tmp_path: Path) -> None:
    """The readout's planned figure is vlmctx.planner.plan_memory (what `vlmctx plan` prints) for
    the same model, frames, timestamps, question, pooler and dtype, and differs when they do."""
    from vlmctx.planner import human_bytes, plan_memory
    from vlmctx.runtime.assets import sample_video

    video = str(sample_video())
    q = "What moves?"
    steps = _run(app, video, q, [], None)
    readout, session = steps[-1][2], steps[-1][3]
    frames = session.frames
    lm = app.lm.with_config(make_config("uniform", 6, 1.0, "none", {}, "default", {}))
    h, w = frames.data.shape[1:3]
    expected = plan_memory(
        TINY, len(frames), (h, w), q, "float32", frames.pts_s, frames.info.duration_s
    )
    assert memory_plan_for(lm, frames, q) == expected
    assert f"{human_bytes(expected.peak_prefill_bytes)} at prefill" in readout
    assert f"{expected.total_tokens} tokens" in readout
    longer = memory_plan_for(lm, frames, q + " And then? " * 20)
    assert longer.total_tokens > expected.total_tokens
    assert longer.kv_cache_bytes > expected.kv_cache_bytes


def test_server_serves_only_its_own_files(demo_server) -> None:
    import httpx

    from vlmctx.runtime.assets import sample_video

    _, url, cache = demo_server
    repo_file = Path(__file__).resolve().parents[2] / "pyproject.toml"
    foreign = [
        "/etc/passwd",
        str(repo_file),
        f"{cache}/../../../../../../etc/passwd",
        "%2Fetc%2Fpasswd",
        "..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    ]
    with httpx.Client(timeout=30) as client:
        for path in foreign:
            r = client.get(f"{url}/gradio_api/file={path}")
            assert r.status_code in (403, 404), (path, r.status_code)
            assert b"root:" not in r.content and b"[project]" not in r.content
        # what it was given (the sample) and what it received (an upload) are served
        assert client.get(f"{url}/gradio_api/file={sample_video()}").status_code == 200
        up = client.post(
            f"{url}/gradio_api/upload", files={"files": ("x.txt", b"hello", "text/plain")}
        )
        assert up.status_code == 200
        stored = up.json()[0]
        assert str(cache) in stored
        assert client.get(f"{url}/gradio_api/file={stored}").content == b"hello"


def test_upload_over_the_limit_says_what_to_do(demo_server) -> None:
    """The upload limit (5 MB in the fixture) is enforced by the server; Gradio's upload route
    answers 413 with its own text ("File size exceeded maximum allowed size of N bytes."), which
    the demo's middleware replaces with the limit and what to do."""
    import httpx

    from vlmctx_demos.upload_limit import upload_limit_message

    _, url, _ = demo_server
    with httpx.Client(timeout=60) as client:
        big = client.post(
            f"{url}/gradio_api/upload", files={"files": ("big.mp4", b"\0" * (6 * 2**20))}
        )
        assert big.status_code == 413
        assert big.text == upload_limit_message(5.0)
        assert big.headers["content-type"].startswith("text/plain")
        assert int(big.headers["content-length"]) == len(big.content)
        for words in ("5 MB", "Trim or downscale", "vlmctx ask", "--max-upload-mb"):
            assert words in big.text
        assert "maximum allowed size" not in big.text
        # other responses are untouched: a small upload and the page itself
        small = client.post(f"{url}/gradio_api/upload", files={"files": ("s.txt", b"hi")})
        assert small.status_code == 200 and small.json()[0].endswith("s.txt")
        assert client.get(f"{url}/").status_code == 200


def test_demo_subcommand_registers() -> None:
    from vlmctx_demos.cli import register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["demo", "--model", TINY, "--port", "9999", "--max-upload-mb", "3"])
    assert (args.model, args.port, args.max_upload_mb, args.host) == (TINY, 9999, 3.0, "127.0.0.1")
    assert callable(args.func)
