"""The demo's live mode with a real tiny model: a file played at its own rate into a streaming
session, answered at any moment, with the past frames the answer retrieved and their times."""

from __future__ import annotations

import time
from functools import cache

import pytest

gr = pytest.importorskip("gradio", reason="the demo needs gradio (pip install 'vlmctx[demo]')")

from tests.demos.conftest import TINY  # noqa: E402
from vlmctx_demos.live import LiveDemo, LivePlay, used_frames_gallery, used_frames_timeline  # noqa: E402


@cache
def _lm():
    from vlmctx.config import ContextConfig
    from vlmctx.engine import VideoLM

    return VideoLM.load(TINY, device="cpu").with_config(ContextConfig())


def _sample() -> str:
    from vlmctx.runtime.assets import sample_video

    return str(sample_video())


def _wait_end(play: LivePlay, limit_s: float = 120) -> None:
    deadline = time.monotonic() + limit_s
    while play.state == "playing":
        assert time.monotonic() < deadline, "the live play did not end"
        time.sleep(0.05)


def test_play_follows_the_file_clock_and_answers_from_retrieved_past_frames() -> None:
    # 12 s sample at 1 fps, 2 frames per chunk, 4x speed: the last chunk is due at 11 s / 4
    t0 = time.monotonic()
    play = LivePlay(_lm(), _sample(), budget=200, fps=1.0, chunk_frames=2, speed=4.0).start()
    try:
        _wait_end(play)
        assert time.monotonic() - t0 >= 11 / 4  # never ahead of the file's clock
        assert play.state == "ended" and play.now_s == pytest.approx(11.0)
        st = play.session.stats()
        assert st["frames_pushed"] == 12 and st["offloaded_blocks"] > 0
        assert "ended" in play.status() and "offloaded" in play.status()
        answer, asked = play.ask("What colour is the ball?", 4)
        assert asked == pytest.approx(11.0)
        recent = [t for _, t in answer.recent]
        retrieved = [t for r in answer.retrieved for _, t in r.frames]
        assert retrieved and max(retrieved) < min(recent)  # past frames, with their times
        captions = [c for _, c in used_frames_gallery(play, answer)]
        assert captions[: len(retrieved)] == [
            f"retrieved #{i} @ {t:.2f} s" for r in answer.retrieved for i, t in r.frames
        ]
        assert len(captions) == len(retrieved) + len(recent)
        strip = used_frames_timeline(answer, play.duration_s)
        assert strip.count("live-retrieved") == len(retrieved)
        assert strip.count("live-recent") == len(recent)
        assert f'data-t="{retrieved[0]:.3f}"' in strip
        # an answer leaves no trace: asked again, the same blocks come back
        assert play.ask("What colour is the ball?", 4)[0].retrieved == answer.retrieved
    finally:
        play.stop()
    assert play.session.closed and not play.thumbs


def test_stop_wakes_the_reader_at_once() -> None:
    play = LivePlay(_lm(), _sample(), budget=None, fps=1.0, chunk_frames=2).start()
    deadline = time.monotonic() + 60
    while not play.session.stats()["frames_pushed"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    t0 = time.monotonic()
    play.stop()  # the reader waits ~1 s for the next chunk at 1x; stop must not wait it out
    assert time.monotonic() - t0 < 5
    assert play.state == "stopped" and play.session.closed and play.now_s < 11


def test_handlers_refuse_clearly_and_forget_a_play() -> None:
    live = LiveDemo(_lm(), max_upload_mb=50, max_question_chars=20, max_new_tokens=8)
    with pytest.raises(gr.Error, match="upload one"):
        live.start(None, 200, 1, 2, None)
    with pytest.raises(gr.Error, match="Start the live play first"):
        live.ask("What colour?", 4, None)
    status, _ = live.start(_sample(), 0, 1, 2, None)  # 0: unbounded
    assert "playing" in status and "unbounded" in status
    with pytest.raises(gr.Error, match="20 characters"):
        live.ask("x" * 21, 4, None)
    with pytest.raises(gr.Error, match="between 1 and 8"):
        live.ask("What colour?", 9, None)
    play = live.plays["local"]
    live.forget(None)
    assert play.state == "stopped" and "local" not in live.plays
    with pytest.raises(gr.Error, match="Start the live play first"):
        live.ask("What colour?", 4, None)


def test_host_budget_sends_old_blocks_to_the_compact_tier() -> None:
    live = LiveDemo(_lm(), max_upload_mb=50, max_question_chars=40, max_new_tokens=8)
    with pytest.raises(gr.Error, match="host_budget"):
        live.start(_sample(), 200, 1, 2, "lots", None)
    play = LivePlay(_lm(), _sample(), budget=200, fps=1.0, chunk_frames=2, speed=8.0,
                    host_budget="1KiB").start()  # fmt: skip
    try:
        _wait_end(play)
        st = play.session.stats()
        assert st["compact_blocks"] == st["offloaded_blocks"] > 0 and st["host_kv_bytes"] == 0
        assert "compact" in play.status() and "of 0 MiB" in play.status()
        answer, _ = play.ask("What colour is the ball?", 4)
        assert answer.retrieved and {r.tier for r in answer.retrieved} == {"compact"}
    finally:
        play.stop()
