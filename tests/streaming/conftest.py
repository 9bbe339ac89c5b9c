"""Shared setup for streaming-session tests: loaded models (cached per test session) and the
sample video's frames cut into chunks with their true timestamps."""

from __future__ import annotations

from functools import cache

import pytest

from vlmctx.engine import VideoLM
from vlmctx.video.types import Frames


@cache
def load(name: str) -> VideoLM:
    """A model on CPU, loaded once per test session (read-only use: sessions hold their own
    state)."""
    return VideoLM.load(name, device="cpu")


@cache
def sample_frames(n: int) -> Frames:
    """``n`` frames sampled uniformly from the sample video, small enough for tiny models."""
    from vlmctx.runtime.assets import sample_video
    from vlmctx.video import SAMPLERS, probe, read_frames

    info = probe(str(sample_video()))
    return read_frames(info, SAMPLERS.create("uniform", n=n).select(info), max_pixels=112 * 112)


def chunks(frames: Frames, size: int) -> list[Frames]:
    """Consecutive chunks of ``size`` frames, each keeping its indices and timestamps."""
    return [
        Frames(
            frames.data[a : a + size],
            frames.indices[a : a + size],
            frames.pts_s[a : a + size],
            frames.backend,
            frames.info,
            frames.sample_fps,
        )
        for a in range(0, len(frames), size)
    ]


@pytest.fixture(scope="module")
def toylab() -> VideoLM:
    return load("toylab")
