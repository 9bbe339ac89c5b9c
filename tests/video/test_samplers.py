from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from vlmctx.errors import ConfigError, EmptySelectionError
from vlmctx.video import SAMPLERS, VideoInfo, probe, smart_resize
from vlmctx.video.samplers import smart_nframes


def fake_info(num_frames: int, fps: float, width: int, height: int, gop: int = 250) -> VideoInfo:
    """A probe result without a file: the samplers below (all but scene) only read metadata."""
    pts = np.arange(num_frames) / fps
    return VideoInfo(
        path="<fake>",
        num_frames=num_frames,
        fps=fps,
        duration_s=num_frames / fps,
        width=width,
        height=height,
        rotation=0,
        codec="h264",
        is_vfr=False,
        pts_s=pts,
        keyframes=np.arange(0, num_frames, gop, dtype=np.int64),
        stream_pts=np.arange(num_frames, dtype=np.int64),
        time_base=Fraction(1, int(fps)),
    )


@pytest.mark.parametrize("name", SAMPLERS.names())
@pytest.mark.parametrize("clip", ["long_gop_clip", "vfr_clip", "cuts_clip"])
def test_sampler_contract(name: str, clip: str, request: pytest.FixtureRequest) -> None:
    info = probe(request.getfixturevalue(clip))
    sel = SAMPLERS.create(name).select(info)
    idx = sel.indices
    assert idx.dtype == np.int64 and len(idx) >= 1
    assert np.all(np.diff(idx) > 0), "sorted and unique"
    assert idx.min() >= 0 and idx.max() < info.num_frames
    np.testing.assert_array_equal(sel.pts_s, info.pts_s[idx])  # true PTS, also on VFR
    assert sel.sample_fps > 0 and sel.sampler.startswith(name)
    assert SAMPLERS.create(name).select(info).indices.tolist() == idx.tolist()  # deterministic


def test_unknown_sampler_and_parameter() -> None:
    with pytest.raises(ConfigError, match="Did you mean .uniform."):
        SAMPLERS.create("unifrom", n=4)
    with pytest.raises(ConfigError, match="no parameter"):
        SAMPLERS.create("uniform", frames=4)


def test_uniform_and_segment_values() -> None:
    info = fake_info(100, 25.0, 64, 64)
    assert SAMPLERS.create("uniform", n=5).select(info).indices.tolist() == [0, 25, 50, 74, 99]
    mid = SAMPLERS.create("segment", n=4).select(info).indices.tolist()
    assert mid == [12, 37, 62, 87]
    rnd = SAMPLERS.create("segment", n=4, mode="random", seed=3).select(info).indices
    assert [0 <= r - 25 * k < 25 for k, r in enumerate(rnd)] == [True] * 4
    assert len(SAMPLERS.create("uniform", n=500).select(info)) == 100  # capped at real frames


def test_fps_sampler_follows_qwen_smart_nframes() -> None:
    # 600 s at 30 fps, fps=2 -> 1200 frames, capped at 768 (qwen-vl-utils FPS_MAX_FRAMES)
    assert smart_nframes(18000, 600.0, 2.0, 4, 768) == 768
    # 10 s at 2 fps -> 20; 7 s -> 14; 3.3 s -> 6.6 -> floor to the temporal factor 2 -> 6
    assert smart_nframes(300, 10.0, 2.0, 4, 768) == 20
    assert smart_nframes(100, 3.3, 2.0, 4, 768) == 6
    assert smart_nframes(30, 1.0, 2.0, 4, 768) == 4  # min_frames
    sel = SAMPLERS.create("fps", fps=1.0).select(fake_info(300, 30.0, 64, 64))
    assert len(sel) == 10 and sel.sample_fps == pytest.approx(1.0)


def test_smart_resize_hand_values() -> None:
    # 720x1280 with qwen2.5's per-frame max 235200: beta = sqrt(921600/235200) = 1.9795,
    # 720/1.9795 = 363.7 -> 12*28 = 336; 1280/1.9795 = 646.6 -> 23*28 = 644
    assert smart_resize(720, 1280, 28, 128 * 28 * 28, 235200) == (336, 644)
    # defaults (max 768*28*28 = 602112): beta = 1.2372 -> 581.97 -> 560, 1034.6 -> 1008
    assert smart_resize(720, 1280) == (560, 1008)
    # below min_pixels: scaled up and rounded up
    assert smart_resize(56, 56, 28, 100352, 602112) == (336, 336)
    with pytest.raises(ConfigError, match="aspect ratio"):
        smart_resize(10, 2100)


def test_token_budget_default_matches_qwen_fetch_video() -> None:
    """qwen-vl-utils, 10 min 1280x720 30 fps, defaults: nframes 768; total 128000*784*0.9 =
    90316800 px -> per frame min(602112, 90316800/768*2 = 235200) -> (336, 644);
    tokens = 768/2 * 12 * 23 = 105984."""
    choice = SAMPLERS.create("token_budget").choose(fake_info(18000, 30.0, 1280, 720))
    assert (choice.nframes, choice.height, choice.width, choice.tokens) == (768, 336, 644, 105984)


def test_token_budget_max_visual_tokens_hand_values() -> None:
    """60 s 640x360 at fps 2 -> 120 frames; 16384 tokens * 784 = 12845056 px -> 214084.3 per
    frame; beta = sqrt(230400/214084.3) = 1.0374 -> 336 x 616; tokens = 60 * 12 * 22 = 15840."""
    info = fake_info(1800, 30.0, 640, 360)
    budget = SAMPLERS.create("token_budget", max_visual_tokens=16384)
    choice = budget.choose(info)
    assert (choice.nframes, choice.height, choice.width, choice.tokens) == (120, 336, 616, 15840)
    sel = budget.select(info)
    assert sel.resize == (336, 616) and len(sel) == 120 and len(sel) % 2 == 0


def test_token_budget_trades_frames_for_resolution() -> None:
    """1024 tokens cannot pay 120 frames at min_pixels: frames drop to floor_2(802816*2/105369)
    = 14, frames are 252 x 448 (114688 px), tokens 7 * 9 * 16 = 1008 <= 1024."""
    choice = SAMPLERS.create("token_budget", max_visual_tokens=1024).choose(
        fake_info(1800, 30.0, 640, 360)
    )
    assert (choice.nframes, choice.height, choice.width, choice.tokens) == (14, 252, 448, 1008)
    with pytest.raises(ConfigError, match="not both"):
        SAMPLERS.create("token_budget", max_visual_tokens=10, total_pixels=10)


def test_keyframe_sampler_returns_iframes() -> None:
    info = fake_info(2000, 25.0, 64, 64, gop=250)
    assert SAMPLERS.create("keyframe").select(info).indices.tolist() == list(range(0, 2000, 250))
    assert len(SAMPLERS.create("keyframe", max_frames=3).select(info)) == 3


def test_window_sampler_and_empty_window(vfr_clip: Path) -> None:
    info = probe(vfr_clip)
    sel = SAMPLERS.create("window", start_s=0.5, end_s=1.5, inner_params={"n": 4}).select(info)
    assert len(sel) == 4 and sel.pts_s.min() >= 0.5 and sel.pts_s.max() <= 1.5
    assert sel.sampler == "window/uniform"
    with pytest.raises(EmptySelectionError, match="holds no frame"):
        SAMPLERS.create("window", start_s=100.0, end_s=200.0).select(info)
    with pytest.raises(ConfigError):
        SAMPLERS.create("window", start_s=2.0, end_s=1.0)


def test_scene_sampler_finds_the_cuts(cuts_clip: Path) -> None:
    # scenes [0, 40), [40, 85), [85, 120): one middle frame each
    sel = SAMPLERS.create("scene").select(probe(cuts_clip))
    assert sel.indices.tolist() == [19, 62, 102]
    assert len(SAMPLERS.create("scene", max_frames=2).select(probe(cuts_clip))) == 2
