from __future__ import annotations

import os
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from tests.video import broken_files
from tests.video.conftest import VFR_DURATIONS_MS
from vlmctx.errors import VideoDecodeError, VideoNotFoundError
from vlmctx.video import probe
from vlmctx.video.synthetic import clips


def test_probe_counts_frames_and_gops(long_gop_clip: Path) -> None:
    info = probe(long_gop_clip)
    assert info.num_frames == 300
    assert (info.width, info.height, info.rotation, info.codec) == (192, 112, 0, "h264")
    assert info.fps == pytest.approx(25.0) and not info.is_vfr
    assert info.duration_s == pytest.approx(12.0)
    assert info.keyframes.tolist() == [0, 250]
    np.testing.assert_allclose(info.pts_s, np.arange(300) / 25.0, atol=1e-9)


def test_probe_vfr_pts_are_container_times(vfr_clip: Path) -> None:
    info = probe(vfr_clip)
    assert info.is_vfr and info.num_frames == 60
    durations = np.array([VFR_DURATIONS_MS[i % len(VFR_DURATIONS_MS)] for i in range(60)])
    expected = np.concatenate([[0], np.cumsum(durations)[:-1]]) / 1000.0
    np.testing.assert_allclose(info.pts_s, expected, atol=1e-6)
    assert not np.allclose(info.pts_s, np.arange(60) / info.fps)  # index/fps would be wrong


def test_probe_rotation_swaps_display_size(rotated_clip: Path) -> None:
    info = probe(rotated_clip)
    assert info.rotation == 90 and (info.width, info.height) == (112, 192)


def test_probe_is_cached_until_file_changes(tmp_path: Path) -> None:
    path = clips.write_clip(tmp_path / "c.mp4", num_frames=10)
    first = probe(path)
    assert probe(path) is first
    clips.write_clip(path, num_frames=12)
    os.utime(path, ns=(1, 1))
    assert probe(path).num_frames == 12


def test_missing_path_and_directory(tmp_path: Path) -> None:
    with pytest.raises(VideoNotFoundError, match="not found"):
        probe(tmp_path / "nope.mp4")
    with pytest.raises(VideoNotFoundError, match="directory"):
        probe(tmp_path)


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(VideoDecodeError, match="empty"):
        probe(tmp_path / "empty.mp4")


def test_text_file_named_mp4(tmp_path: Path) -> None:
    (tmp_path / "page.mp4").write_text("<html>404 not found</html>\n" * 20)
    with pytest.raises(VideoDecodeError, match="not a readable video"):
        probe(tmp_path / "page.mp4")


def test_truncated_file(tmp_path: Path, long_gop_clip: Path) -> None:
    bad = broken_files.write_truncated(long_gop_clip, tmp_path / "cut.mp4", keep=0.3)
    with pytest.raises(VideoDecodeError, match="corrupt|truncated|not a readable"):
        probe(bad)


def test_audio_only_file(tmp_path: Path) -> None:
    path = broken_files.write_audio_only(tmp_path / "tone.mp4")
    with pytest.raises(VideoDecodeError, match="no video stream"):
        probe(path)


def test_fifo_and_device_are_not_regular_files(tmp_path: Path) -> None:
    """Before: "is a directory" (and opening a FIFO would block). Nothing is opened now."""
    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)
    with pytest.raises(VideoNotFoundError, match=r"not a regular file \(it is a FIFO"):
        probe(fifo)
    with pytest.raises(VideoNotFoundError, match="not a regular file.*character device"):
        probe("/dev/null")


def test_permission_denied_says_so_without_format_advice() -> None:
    """Before: the FFmpeg error plus "is it really a video? re-encode" advice. As root, chmod 000
    does not deny reading, so the probe runs in a child that drops to the ``nobody`` user."""
    folder = tempfile.mkdtemp(prefix="vlmctx-perm-")
    os.chmod(folder, 0o755)
    path = Path(folder) / "secret.mp4"
    clips.write_clip(path, num_frames=5)
    path.chmod(0)
    code = (
        "from vlmctx.video import probe\n"
        f"try:\n    probe({str(path)!r})\n"
        "except Exception as exc:\n    print(type(exc).__name__, exc)\n"
    )
    drop = None
    if os.geteuid() == 0:
        drop = lambda: (os.setgid(65534), os.setuid(65534))  # noqa: E731
    try:
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            preexec_fn=drop,
            cwd=Path(__file__).resolve().parents[2],
        )
    except PermissionError:
        pytest.skip(
            "running as root, and user nobody cannot run this interpreter (root ignores "
            "chmod 000, so permission denial cannot be produced here)"
        )
    assert out.stdout.startswith("VideoError permission denied"), out.stdout + out.stderr
    assert "re-encode" not in out.stdout and "really a video" not in out.stdout


def test_container_with_no_streams(tmp_path: Path) -> None:
    """An MP4 holding only a movie header (ftyp + moov/mvhd): no tracks at all."""

    def box(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", 8 + len(payload)) + kind + payload

    matrix = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
    mvhd = b"\0" * 4 + struct.pack(">IIIIIH", 0, 0, 1000, 0, 0x10000, 0x100)
    mvhd += b"\0" * 10 + matrix + b"\0" * 24 + struct.pack(">I", 1)
    ftyp = b"isom" + struct.pack(">I", 512) + b"isomiso2mp41"
    path = tmp_path / "nothing.mp4"
    path.write_bytes(box(b"ftyp", ftyp) + box(b"moov", box(b"mvhd", mvhd)))
    with pytest.raises(VideoDecodeError, match="no streams at all"):
        probe(path)
