"""Broken inputs for the decoders' and the CLI's error paths: an audio-only .mp4 and a truncated
one (moved here from ``vlmctx.video.synthetic.clips``: only tests use them)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_audio_only(path: str | Path, seconds: float = 1.0, rate: int = 16000) -> Path:
    """An .mp4 holding only an AAC sine tone: a valid container with no video stream."""
    import av

    path = Path(path)
    container = av.open(str(path), mode="w", format="mp4")
    stream = container.add_stream("aac", rate=rate)
    n = int(seconds * rate)
    samples = (0.3 * np.sin(2 * np.pi * 440 * np.arange(n) / rate)).astype(np.float32)
    frame_size = 1024
    for start in range(0, n, frame_size):
        chunk = samples[None, start : start + frame_size]
        frame = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
        frame.sample_rate, frame.pts = rate, start
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return path


def write_truncated(src: str | Path, dst: str | Path, keep: float = 0.4) -> Path:
    """Copy the first ``keep`` fraction of ``src``'s bytes: an mp4 whose index points past EOF."""
    data = Path(src).read_bytes()
    Path(dst).write_bytes(data[: max(1, int(len(data) * keep))])
    return Path(dst)
