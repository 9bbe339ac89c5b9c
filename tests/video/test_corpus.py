"""Every backend on every clip of the real-world corpus (tests/video/corpus.py) against FFmpeg.

Truth is what FFmpeg presents: the frame list and times from FFmpeg's libraries (what ``ffprobe``
prints, read through PyAV's plain decode loop), the pixels from ``ffmpeg -f rawvideo -pix_fmt
rgb24`` (the CLI of ``corpus.ffmpeg_exe``: imageio-ffmpeg's bundled build, else PATH's). Each (clip, backend) has one expected outcome:

* ``exact``: frames at the sampled indices equal FFmpeg's (max |diff| = 0);
* ``tolerance``: 10-bit sources, where each library converts to 8-bit RGB with its own swscale
  build and flags (torchcodec uses the system FFmpeg, as the CLI does, and is exact). Measured on
  hevc_10bit: mean |diff| 3.7-4.3, max 103-176 on sharp chroma edges. Checked as mean |diff| <= 6
  and the frame being FFmpeg's nearest to the reference (so it cannot be a neighbour);
* ``refused``: the backend raises ``VideoDecodeError`` (it cannot do the clip, or would be wrong).

``auto`` must be exact or within tolerance on every clip: it is what users get.

Two clips have no complete FFmpeg truth, so theirs is derived from FFmpeg's own output: a raw
H.264 stream has no presentation times (ffprobe shows none), so its frames are timed index /
declared rate; a .ts cut short inside a frame makes FFmpeg show a concealed guess of that frame,
which is not in the file, so the truth is FFmpeg's frames minus those whose packet is shorter
than in the whole clip (same muxer, same bytes up to the cut).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from tests.video import corpus
from vlmctx.errors import VideoDecodeError
from vlmctx.video import available_backends, probe, read_frames
from vlmctx.video.types import Selection

BACKENDS = ["auto", "torchcodec", "pyav", "decord", "opencv"]
UNINDEXED = ("mpegts", "m2ts", "mpegts_open_gop", "mpegts_midstart", "mpegts_truncated", "raw_h264")
TOLERANT = {("hevc_10bit", b) for b in ("auto", "pyav", "opencv", "decord")}
REFUSED = {
    # decord ignores edit lists (counts discarded packets as frames): refused before it runs
    ("trim_copy_mp4", "decord"),
    ("trim_copy_offset_mp4", "decord"),
    ("last_packet_discarded", "decord"),
    # decord 0.6 fails on these itself (clear VideoDecodeError from its worker)
    ("vp9_webm", "decord"),
    ("av1", "decord"),
    ("rotate_90", "decord"),
    ("rotate_270", "decord"),
    ("gif", "decord"),
    ("still_png_as_mp4", "decord"),
    # open GOPs: both seek to the keyframe for frames shown before it (wrong pixels): refused
    ("open_gop_h264", "decord"),
    ("open_gop_h264", "torchcodec"),
    # decord decodes the larger (second) stream: refused by the worker's size check
    ("two_video_streams", "decord"),
    # (OpenCV 5.1's wheel decodes AV1 exactly (its FFmpeg has a software AV1 decoder): not refused)
    ("still_png_as_mp4", "torchcodec"),  # "maximum pts value is unknown"
    # no index (MPEG-TS/M2TS) or no timestamps (raw H.264): timestamp seeks land a GOP late and
    # decord lists frames its own way, so both are refused before they run (before the refusal
    # decord returned wrong frames on the .ts without an error, max |diff| 255)
    *((ts, b) for ts in UNINDEXED for b in ("torchcodec", "decord")),
    ("raw_h264", "opencv"),  # OpenCV times raw frames its own way: refused
}
MEAN_TOL = 6.0


@pytest.fixture(scope="session")
def clips(request: pytest.FixtureRequest) -> dict[str, Path | str]:
    if corpus.ffmpeg_exe() is None:
        pytest.skip('no ffmpeg CLI: pip install "vlmctx[dev]" (imageio-ffmpeg) or put one on PATH')
    cache = getattr(request.config, "cache", None)  # absent under -p no:cacheprovider
    if cache is not None:
        return corpus.build(Path(cache.mkdir("vlmctx-corpus")))
    root = Path(os.environ["VLMCTX_CACHE"]) / "vlmctx-corpus"  # set by tests/conftest.py
    root.mkdir(parents=True, exist_ok=True)
    return corpus.build(root)


_TRUTH: dict[str, tuple[np.ndarray, np.ndarray]] = {}


def _clip(clips: dict[str, Path | str], name: str) -> Path:
    value = clips[name]
    if isinstance(value, str):
        pytest.skip(value)
    return value


def _truth(clips: dict[str, Path | str], name: str) -> tuple[np.ndarray, np.ndarray]:
    """(frames (t, h, w, 3), times (t,)) as FFmpeg presents them, once per clip (see the module
    docstring for the raw stream and the cut-short .ts)."""
    path = _clip(clips, name)
    if str(path) not in _TRUTH:
        info = probe(path)
        frames = corpus.ffmpeg_frames(path, info.height, info.width)
        times = corpus.ffprobe_times(path)
        if name == "raw_h264":
            times = np.arange(len(frames)) / corpus.frame_rate(path)
        if name == "mpegts_truncated":
            whole = corpus.packets(_clip(clips, "mpegts"))
            cut = corpus.packets(path)
            partial = [p / 90000 for p, size in cut.items() if size != whole[p]]  # TS: 90 kHz
            keep = ~np.isclose(times[:, None], np.array(partial)[None, :]).any(axis=1)
            frames, times = frames[keep], times[keep]
        _TRUTH[str(path)] = frames, times
    return _TRUTH[str(path)]


def _sample(n: int) -> np.ndarray:
    """First, last, and B-frame positions in between (never only keyframes)."""
    idx = np.round(np.linspace(0, n - 1, 6)).astype(np.int64)
    return np.unique(np.concatenate([idx, [min(n - 1, 1), n // 2 + 1]]).clip(0, n - 1))


@pytest.mark.parametrize("name", list(corpus.RECIPES))
def test_probe_presents_what_ffmpeg_presents(clips, name: str) -> None:  # noqa: ANN001
    path = _clip(clips, name)
    info = probe(path)
    frames, times = _truth(clips, name)
    assert info.num_frames == len(times) == len(frames)
    np.testing.assert_allclose(info.pts_s, times, atol=1e-6)
    assert frames.shape[1:3] == (info.height, info.width)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("trim_copy_mp4", (52, 3, 0.0)),  # old probe: 55 frames, first PTS -0.12 s
        ("trim_copy_offset_mp4", (87, 13, 0.0)),  # old probe: 100 frames, first PTS -0.52 s
        ("last_packet_discarded", (99, 1, 0.0)),  # old probe: 100 frames
        ("bframe_delay", (100, 0, 0.08)),
        ("trim_copy_mkv", (55, 0, 0.0)),
    ],
)
def test_edit_lists_and_discarded_packets(clips, name: str, expected) -> None:  # noqa: ANN001
    info = probe(_clip(clips, name))
    assert (info.num_frames, info.discarded_packets) == expected[:2]
    assert info.pts_s[0] == pytest.approx(expected[2])


@pytest.mark.parametrize(
    ("name", "expected"),
    [  # seek mode, frames, first pts (s), partial frames dropped
        ("mpegts", ("bytes", 100, 1.48, 0)),  # FFmpeg's TS muxer: 1.4 s + B-frame delay
        ("m2ts", ("bytes", 100, 1.48, 0)),
        ("mpegts_open_gop", ("bytes", 50, 1.48, 0)),
        ("mpegts_midstart", ("bytes", 40, 3.88, 0)),  # 29 packets before its first keyframe
        ("mpegts_truncated", ("bytes", 60, 1.48, 1)),  # its 61st frame is cut inside
        ("raw_h264", ("none", 100, 0.0, 0)),
        ("bframe_delay", ("pts", 100, 0.08, 0)),
    ],
)
def test_containers_without_an_index(clips, name: str, expected) -> None:  # noqa: ANN001
    """MPEG-TS/M2TS are read by keyframe byte offsets, raw streams by counting; times are the
    container's PTS as ffprobe shows them (no re-basing to 0, as for every container)."""
    info = probe(_clip(clips, name))
    assert (info.seek, info.num_frames) == expected[:2]
    assert info.pts_s[0] == pytest.approx(expected[2])
    assert info.partial_frames == expected[3]
    if info.seek == "bytes":
        assert info.start_s <= info.pts_s[0] + 1e-9  # the stream's start (what OpenCV counts from)
        assert info.keyframe_pos is not None and len(info.keyframe_pos) == len(info.keyframes)


@pytest.mark.parametrize(
    ("name", "rotation"), [("rotate_90", 90), ("rotate_180", 180), ("rotate_270", 270)]
)
def test_probe_reports_rotation(clips, name: str, rotation: int) -> None:  # noqa: ANN001
    info = probe(_clip(clips, name))
    assert info.rotation == rotation
    assert (info.width, info.height) == ((72, 128) if rotation % 180 else (128, 72))


def test_special_streams(clips) -> None:  # noqa: ANN001
    two = probe(_clip(clips, "two_video_streams"))
    assert (two.width, two.height, two.stream_index) == (64, 48, 0)
    still = probe(_clip(clips, "still_png_as_mp4"))
    assert (still.num_frames, still.codec) == (1, "png")
    assert probe(_clip(clips, "odd_size_yuv444")).width == 97


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", list(corpus.RECIPES))
def test_backend_frames_are_ffmpegs(clips, name: str, backend: str) -> None:  # noqa: ANN001
    path = _clip(clips, name)
    if available_backends()[backend] is not None:
        pytest.skip(f"{backend}: {available_backends()[backend]}")
    info = probe(path)
    idx = _sample(info.num_frames)
    sel = Selection(idx, info.pts_s[idx], 1.0)
    if (name, backend) in REFUSED:
        with pytest.raises(VideoDecodeError, match=backend if backend != "auto" else ""):
            read_frames(info, sel, backend=backend)
        return
    frames, times = _truth(clips, name)
    got = read_frames(info, sel, backend=backend)
    np.testing.assert_allclose(got.pts_s, times[idx], atol=1e-6)
    assert got.data.shape == (len(idx), *frames.shape[1:])
    if (name, backend) not in TOLERANT:
        np.testing.assert_array_equal(got.data, frames[idx])
        return
    diff = np.abs(got.data.astype(np.int16) - frames[idx])  # (t, h, w, 3)
    assert diff.reshape(len(idx), -1).mean(axis=1).max() <= MEAN_TOL
    for j, i in enumerate(idx):  # the nearest FFmpeg frame is the requested one
        err = np.abs(frames.astype(np.int16) - got.data[j]).mean(axis=(1, 2, 3))  # (t,)
        assert int(np.argmin(err)) == int(i)


def test_ts_cut_before_its_first_frame_is_refused(clips, tmp_path: Path) -> None:  # noqa: ANN001
    """3,000 bytes of the .ts hold only part of its first keyframe: one clear error, no frame
    guessed (FFmpeg would show the concealed fragment)."""
    cut = tmp_path / "cut.ts"
    cut.write_bytes(_clip(clips, "mpegts").read_bytes()[:3000])
    with pytest.raises(VideoDecodeError, match="cut short before its first complete frame"):
        probe(cut)
