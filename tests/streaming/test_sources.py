"""Sources: a file at its own rate or as fast as possible, a live feed through PyAV (an MPEG-TS
file, a FIFO), one chunk iterator with true timestamps; and the faults (end, stall, a corrupt
chunk) leave the session usable."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tests.streaming.conftest import load
from vlmctx.errors import ConfigError, VideoNotFoundError
from vlmctx.streaming.errors import CorruptChunkError, SourceError, SourceStalledError
from vlmctx.streaming.sources import (
    FileSource,
    LiveSource,
    TickSampler,
    chunks_of,
    is_live,
    live_info,
    open_source,
)
from vlmctx.video.types import Frames

Q = "What colour is the ball?"
SMALL = 112 * 112


@pytest.fixture(scope="module")
def sample() -> str:
    from vlmctx.runtime.assets import sample_video

    return str(sample_video())


@pytest.fixture(scope="module")
def sample_ts(sample: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample video remuxed into MPEG-TS, the container of live feeds (no index, no
    trailer: readable from any point and from a pipe)."""
    import av

    out = tmp_path_factory.mktemp("ts") / "sample.ts"
    with av.open(sample) as src, av.open(str(out), "w", format="mpegts") as dst:
        stream = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                dst.mux(packet)
    return out


def test_tick_sampler_keeps_first_frame_at_each_tick() -> None:
    s = TickSampler(1.0)
    times = [0.0, 0.4, 0.99, 1.0, 1.5, 2.7, 2.8, 4.1]  # a gap from 2.8 to 4.1: no invented frame
    assert [t for t in times if s.keep(t)] == [0.0, 1.0, 2.7, 4.1]
    assert all(TickSampler(None).keep(t) for t in times)
    with pytest.raises(ConfigError, match="fps"):
        TickSampler(0.0)


def test_file_source_true_timestamps_and_pixels(sample: str) -> None:
    from vlmctx.video import probe, read_frames
    from vlmctx.video.types import Selection

    src = FileSource(sample, fps=1.0, chunk_frames=4, max_pixels=SMALL)
    chunks = list(src)
    assert len(chunks) == len(src) == 3
    assert np.concatenate([c.pts_s for c in chunks]).tolist() == [float(t) for t in range(12)]
    info = probe(sample)
    idx = np.concatenate([c.indices for c in chunks])
    assert idx.tolist() == [30 * t for t in range(12)]
    whole = read_frames(info, Selection(idx, info.pts_s[idx], 1.0), max_pixels=SMALL)
    assert np.array_equal(np.concatenate([c.data for c in chunks]), whole.data)
    last = FileSource(sample, fps=1.0, chunk_frames=5)  # 12 frames: 5 + 5 + a partial 2
    assert [len(c) for c in last] == [5, 5, 2]


def test_file_source_realtime_pacing(sample: str) -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    src = FileSource(sample, fps=2.0, chunk_frames=4, realtime=True, speed=2.0,
                     clock=lambda: now[0], sleep=sleep)  # fmt: skip
    delivered = [(now[0] - 100.0, c.pts_s[-1]) for c in src]
    # each chunk is delivered when the (2x) clock reaches its last frame: 1.5 s of video = 0.75 s
    assert [round(d, 6) for d, _ in delivered] == [round(p / 2, 6) for _, p in delivered]
    t0 = time.monotonic()
    assert len(list(FileSource(sample, fps=1.0, chunk_frames=2, realtime=True, speed=20))) == 6
    assert time.monotonic() - t0 >= 11 / 20 * 0.95  # a real clock: 11 s of video at 20x


def test_corrupt_chunk_is_skipped_and_session_goes_on(sample: str, tmp_path: Path) -> None:
    data = bytearray(Path(sample).read_bytes())
    mid = len(data) // 2
    data[mid : mid + 4000] = np.random.default_rng(0).integers(0, 256, 4000, np.uint8).tobytes()
    bad = tmp_path / "corrupt.mp4"
    bad.write_bytes(bytes(data))
    items = list(chunks_of(FileSource(bad, fps=1.0, chunk_frames=2, max_pixels=SMALL)))
    errors = [i for i in items if isinstance(i, CorruptChunkError)]
    good = [i for i in items if isinstance(i, Frames)]
    assert errors and len(good) >= 3 and len(items) == 6
    assert "could not be decoded" in str(errors[0]) and "skipped" in str(errors[0])
    last_error = max(i for i, item in enumerate(items) if isinstance(item, CorruptChunkError))
    assert isinstance(items[-1], Frames) and last_error < len(items) - 1  # later chunks come
    with load("toylab").session() as s:
        for c in good:
            s.push(c)
        assert s.ask(Q, max_new_tokens=4).text == "red"


def test_live_source_matches_the_file(sample: str, sample_ts: Path) -> None:
    file_chunks = list(FileSource(sample, fps=1.0, chunk_frames=2))
    with LiveSource(str(sample_ts), fps=1.0, chunk_frames=2) as live:
        live_chunks = list(live)
    assert [c.pts_s.tolist() for c in live_chunks] == [c.pts_s.tolist() for c in file_chunks]
    for a, b in zip(live_chunks, file_chunks, strict=True):
        assert a.data.shape == b.data.shape
        assert np.abs(a.data.astype(int) - b.data.astype(int)).mean() < 2.0  # same decoder
    info = live_chunks[0].info
    assert is_live(info) and info.num_frames == 0 and info.fps == 30.0
    assert live_chunks[0].sample_fps == 1.0
    assert open_source(str(sample_ts), live=True).__class__ is LiveSource
    assert open_source(sample).__class__ is FileSource


def test_live_chunks_through_every_adapter_and_a_session(sample_ts: Path) -> None:
    """A live VideoInfo (length unknown) reaches the processor: every adapter's video_kwargs
    take the chunk's rate, not the unknown duration; toylab answers from live chunks."""
    from vlmctx.models import ADAPTERS

    with LiveSource(str(sample_ts), fps=1.0, chunk_frames=2, max_pixels=SMALL) as live:
        chunks = list(live)
    for name in ADAPTERS.names():
        meta = ADAPTERS.create(name).prompt.video_kwargs(chunks[0])["video_metadata"][0]
        assert np.isfinite(meta.fps) and meta.fps > 0 and meta.total_num_frames == 2, name
    with load("toylab").session(budget=22, retrieve_tokens=8) as s:
        for c in chunks:
            s.push(c)
        answer = s.ask(Q, max_new_tokens=4)
    assert answer.text == "red"
    assert [t for _, t in answer.recent] == [8.0, 9.0, 10.0, 11.0]


def test_truncated_live_feed_ends_cleanly(sample_ts: Path, tmp_path: Path) -> None:
    data = sample_ts.read_bytes()
    cut = tmp_path / "cut.ts"
    cut.write_bytes(data[: len(data) // 2])
    with LiveSource(str(cut), fps=1.0, chunk_frames=2) as live:
        chunks = list(live)  # ends without raising
    assert 2 <= len(chunks) < 6
    assert np.concatenate([c.pts_s for c in chunks]).tolist() == list(
        map(float, range(sum(len(c) for c in chunks)))
    )


def test_stalled_fifo_raises_and_session_stays_usable(sample_ts: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "feed"
    os.mkfifo(fifo)
    data = sample_ts.read_bytes()
    resume = threading.Event()

    def writer() -> None:
        with open(fifo, "wb") as f:
            f.write(data[: len(data) // 2])
            f.flush()
            resume.wait(30)  # the feed stalls here, pipe still open

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    live = open_source(str(fifo), fps=1.0, chunk_frames=2, max_pixels=SMALL, stall_timeout_s=1.0)
    assert isinstance(live, LiveSource)
    got: list[Frames] = []
    with load("toylab").session() as s:
        t0 = time.monotonic()
        with pytest.raises(SourceStalledError, match="stalled"):
            while True:
                got.append(next(live))
                s.push(got[-1])
        assert time.monotonic() - t0 < 20
        assert got and s.ask(Q, max_new_tokens=4).text == "red"  # the session is usable
        with pytest.raises(SourceStalledError):  # asking again waits again
            next(live)
        resume.set()  # the writer closes the pipe: the feed ends
        rest = list(live)
        assert len(got) + len(rest) >= 2 and s.stats()["frames_pushed"] == 2 * len(got)
    thread.join(5)
    live.close()


def test_bad_sources_say_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(VideoNotFoundError):
        open_source(tmp_path / "missing.mp4")
    with pytest.raises(ConfigError, match="chunk_frames"):
        open_source("rtsp://127.0.0.1:1/x", chunk_frames=0)
    t0 = time.monotonic()
    live = LiveSource("tcp://127.0.0.1:1", stall_timeout_s=5.0)
    with live, pytest.raises(SourceError, match="cannot open"):
        next(live)
    assert time.monotonic() - t0 < 10
    assert np.isnan(live_info("x", 4, 4, 0.0, "h264").duration_s)
