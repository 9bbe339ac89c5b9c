"""Shared generated clips for the video tests (small, cached for the session)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from vlmctx.video.synthetic import clips

# 300 frames, one 250-frame GOP then a second one, 2 B-frames: the case where naive seeking breaks.
LONG_GOP = {"num_frames": 300, "gop": 250, "bframes": 2, "width": 192, "height": 112}
VFR_DURATIONS_MS = (40, 40, 80, 20, 33)


@pytest.fixture(scope="session")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("clips")


@pytest.fixture(scope="session")
def long_gop_clip(clip_dir: Path) -> Path:
    return clips.write_clip(clip_dir / "long_gop.mp4", **LONG_GOP)


@pytest.fixture(scope="session")
def vfr_clip(clip_dir: Path) -> Path:
    return clips.write_clip(
        clip_dir / "vfr.mp4", num_frames=60, gop=20, frame_durations_ms=VFR_DURATIONS_MS
    )


@pytest.fixture(scope="session")
def rotated_clip(clip_dir: Path) -> Path:
    return clips.write_clip(clip_dir / "rot90.mp4", num_frames=30, gop=12, rotation=90)


@pytest.fixture(scope="session")
def cuts_clip(clip_dir: Path) -> Path:
    return clips.write_clip(clip_dir / "cuts.mp4", num_frames=120, gop=30, cuts=(40, 85))


def reference_decode(path: Path, rotation: int = 0) -> np.ndarray:
    """Every frame by a plain sequential PyAV decode, display orientation: (t, h, w, 3)."""
    with av.open(str(path)) as container:
        frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    if rotation:
        frames = np.rot90(frames, k=rotation // 90, axes=(1, 2))
    return np.ascontiguousarray(frames)
