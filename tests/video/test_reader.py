from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.video.conftest import reference_decode
from vlmctx.errors import ConfigError, DecoderTimeoutError, EmptySelectionError
from vlmctx.video import available_backends, probe, read_frames
from vlmctx.video.decode_schedule import decoded_frames, schedule_segments
from vlmctx.video.synthetic import clips
from vlmctx.video.types import Selection

BACKENDS = [name for name, why in available_backends().items() if why is None]
# Indices that stress B-frame reordering and the long GOP: first/last frame, B-frames deep in GOP
# 0, the frame just before the second keyframe (249), the keyframe itself (250), and after it.
HARD = np.array([0, 1, 2, 3, 97, 98, 124, 248, 249, 250, 251, 252, 299], dtype=np.int64)


def _sel(info, idx) -> Selection:  # noqa: ANN001
    idx = np.asarray(idx, dtype=np.int64)
    return Selection(idx, info.pts_s[idx], 1.0)


@pytest.fixture(scope="module")
def long_ref(long_gop_clip: Path) -> np.ndarray:
    return reference_decode(long_gop_clip)


def test_all_four_backends_and_auto_are_available() -> None:
    assert {"auto", "pyav", "decord", "opencv", "torchcodec"} <= set(available_backends())
    assert {"auto", "pyav", "decord", "opencv"} <= set(BACKENDS)


@pytest.mark.parametrize("backend", BACKENDS)
def test_same_frame_per_index_long_gop_bframes(backend: str, long_gop_clip: Path, long_ref) -> None:  # noqa: ANN001
    """Exact equality with a full sequential decode (measured max |diff| = 0 for every library:
    they share FFmpeg's h264 decoder and swscale's yuv420p->rgb24), and the drawn counter agrees."""
    info = probe(long_gop_clip)
    frames = read_frames(info, _sel(info, HARD), backend=backend)
    assert frames.data.dtype == np.uint8 and frames.data.shape == (len(HARD), 112, 192, 3)
    assert [clips.read_counter(f) for f in frames.data] == HARD.tolist()
    np.testing.assert_array_equal(frames.data, long_ref[HARD])
    np.testing.assert_allclose(frames.pts_s, HARD / 25.0)
    # neighbours differ a lot, so equality above cannot hide an off-by-one
    assert np.abs(long_ref[1].astype(int) - long_ref[2]).mean() > 5


@pytest.mark.parametrize("backend", BACKENDS)
def test_vfr_clip_frames_and_pts(backend: str, vfr_clip: Path) -> None:
    info = probe(vfr_clip)
    idx = np.array([0, 3, 7, 19, 20, 33, 59])
    frames = read_frames(vfr_clip, _sel(info, idx), backend=backend)
    assert [clips.read_counter(f) for f in frames.data] == idx.tolist()
    np.testing.assert_array_equal(frames.pts_s, info.pts_s[idx])
    np.testing.assert_array_equal(frames.data, reference_decode(vfr_clip)[idx])


@pytest.mark.parametrize("backend", BACKENDS)
def test_rotation_applied_identically(backend: str, rotated_clip: Path) -> None:
    info = probe(rotated_clip)
    idx = np.array([0, 5, 29])
    frames = read_frames(info, _sel(info, idx), backend=backend)
    assert frames.data.shape[1:3] == (192, 112)
    assert [clips.read_counter(f, rotation=90) for f in frames.data] == idx.tolist()
    np.testing.assert_array_equal(frames.data, reference_decode(rotated_clip, 90)[idx])


@pytest.mark.parametrize("backend", BACKENDS)
def test_max_pixels_bounds_size_and_keeps_aspect(backend: str, long_gop_clip: Path) -> None:
    info = probe(long_gop_clip)
    frames = read_frames(info, _sel(info, [0, 260]), backend=backend, max_pixels=1000)
    h, w = frames.data.shape[1:3]
    assert (h, w) == (24, 41)  # s = sqrt(1000 / (112*192)) = 0.2157: floor(24.15), floor(41.4)
    auto = read_frames(info, _sel(info, [0, 260]), backend="auto", max_pixels=1000)
    np.testing.assert_array_equal(frames.data, auto.data)


def test_resize_is_exact(long_gop_clip: Path) -> None:
    info = probe(long_gop_clip)
    sel = Selection(np.array([5]), info.pts_s[[5]], 1.0, resize=(56, 84))
    assert read_frames(info, sel).data.shape == (1, 56, 84, 3)


def test_out_of_range_and_empty_selection_are_refused(long_gop_clip: Path) -> None:
    info = probe(long_gop_clip)
    with pytest.raises(ConfigError, match="really has 300 frames"):
        read_frames(info, Selection(np.array([10, 300]), np.zeros(2), 1.0), backend="decord")
    with pytest.raises(EmptySelectionError, match="zero frames"):
        read_frames(info, Selection(np.zeros(0, np.int64), np.zeros(0), 1.0))
    with pytest.raises(ConfigError, match="unknown backend"):
        read_frames(info, _sel(info, [0]), backend="ffmpeg")


def test_decord_timeout_kills_worker(long_gop_clip: Path) -> None:
    info = probe(long_gop_clip)
    with pytest.raises(DecoderTimeoutError, match="killed"):
        read_frames(info, _sel(info, HARD), backend="decord", timeout_s=0.05)


def test_in_process_backends_honour_timeout(long_gop_clip: Path) -> None:
    info = probe(long_gop_clip)
    with pytest.raises(DecoderTimeoutError):
        read_frames(info, _sel(info, HARD), backend="pyav", timeout_s=0.0)


def test_auto_schedule_decodes_each_gop_at_most_once(long_gop_clip: Path) -> None:
    info = probe(long_gop_clip)
    segments = schedule_segments(info, HARD)
    seeks = [r.seek_to for r in segments if r.seek_to is not None]
    assert seeks == sorted(set(seeks)) and set(seeks) <= set(info.keyframes.tolist())
    assert decoded_frames(info, segments) <= int(HARD[-1]) + 1
    # far-apart targets in the same GOP are reached by decoding on, never by re-seeking
    assert len(schedule_segments(info, [10, 200])) == 1
    # a target right after a keyframe, far past the last one, is reached by a seek
    assert [r.seek_to for r in schedule_segments(info, [5, 251])] == [0, 250]


def test_decord_never_loads_in_the_calling_process(long_gop_clip: Path) -> None:
    """decord's leaks and GIL-holding hangs stay in the child: the caller never imports it."""
    code = (
        "import sys, numpy as np\n"
        "from vlmctx.video import probe, read_frames\n"
        "from vlmctx.video.types import Selection\n"
        f"info = probe({str(long_gop_clip)!r})\n"
        "f = read_frames(info, Selection(np.array([3, 251]), info.pts_s[[3, 251]], 1.0), 'decord')\n"
        "assert f.data.shape[0] == 2\n"
        "print('decord' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
