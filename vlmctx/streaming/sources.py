"""Sources of a stream: a video file played at its own rate (or as fast as possible) through
vlmctx's reader, and a live feed PyAV can open (RTSP, HTTP, a FIFO, a capture device), behind one
chunk iterator that yields :class:`~vlmctx.video.types.Frames` with true timestamps.

    for chunk in open_source("clip.mp4", fps=1, chunk_frames=2, realtime=True):
        session.push(chunk)

Both sample the same way (:class:`TickSampler`): at ``fps`` frames per second, the first frame
whose presentation time is at or after each tick ``t0 + k / fps`` (so never a duplicate, and a
variable-rate stream keeps its true times); ``fps=None`` keeps every frame.

Faults, the same for both: the end of the source ends the iteration (a last partial chunk is
yielded); a source that delivers nothing for ``stall_timeout_s`` raises
:class:`SourceStalledError`; a chunk that cannot be decoded raises :class:`CorruptChunkError`.
Neither touches the session, and the iterator goes on after them (``next()`` again): a class,
not a generator, because a generator is finished once it has raised.

Live timestamps are the stream's PTS minus the first frame's (stream time since joining; wall
time since opening where a device gives no PTS). A live :class:`VideoInfo` says its length is
unknown: ``duration_s`` is NaN and ``num_frames`` 0 (``live_info``); adapters take the chunk's
rate from ``Frames.sample_fps``, which a live chunk always sets.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from vlmctx.errors import ConfigError, VlmctxError
from vlmctx.streaming.errors import CorruptChunkError, SourceError, SourceStalledError
from vlmctx.video.types import Frames, Selection, VideoInfo

log = logging.getLogger(__name__)

LIVE_PREFIXES = (
    "rtsp://",
    "rtsps://",
    "rtmp://",
    "http://",
    "https://",
    "udp://",
    "tcp://",
    "srt://",
    "pipe:",
)


class TickSampler:
    """Keeps the first frame at or after each tick ``t0 + k / fps`` (``fps=None``: every frame)."""

    def __init__(self, fps: float | None) -> None:
        if fps is not None and not (fps > 0 and math.isfinite(fps)):
            raise ConfigError(f"fps must be a positive number, got {fps}")
        self.fps = fps
        self._t0: float | None = None
        self._next = 0

    def keep(self, t: float) -> bool:
        if self.fps is None:
            return True
        if self._t0 is None:
            self._t0 = t
        k = math.floor((t - self._t0) * self.fps + 1e-9)
        if k < self._next:
            return False
        self._next = k + 1
        return True


def live_info(url: str, width: int, height: int, fps: float, codec: str) -> VideoInfo:
    """A :class:`VideoInfo` for a live feed: size and nominal rate known, length unknown
    (``duration_s`` NaN, ``num_frames`` 0, no frame index)."""
    empty = np.empty(0)
    return VideoInfo(
        path=url,
        num_frames=0,
        fps=float(fps),
        duration_s=math.nan,
        width=int(width),
        height=int(height),
        rotation=0,
        codec=codec,
        is_vfr=False,
        pts_s=empty,
        keyframes=empty.astype(np.int64),
    )


def is_live(info: VideoInfo) -> bool:
    """Whether ``info`` describes a live feed (length unknown)."""
    return math.isnan(info.duration_s)


def _check_chunking(chunk_frames: int, speed: float) -> None:
    if int(chunk_frames) != chunk_frames or chunk_frames < 1:
        raise ConfigError(f"chunk_frames must be a positive integer, got {chunk_frames}")
    if not (speed > 0 and math.isfinite(speed)):
        raise ConfigError(f"speed must be a positive number, got {speed}")


class FileSource:
    """A video file, sampled at ``fps`` by true PTS and read ``chunk_frames`` at a time through
    :func:`vlmctx.video.read_frames`. ``realtime``: a chunk is delivered when the file's clock
    (scaled by ``speed``) reaches its last frame, as a camera would deliver it; otherwise as fast
    as decoding goes. A chunk whose frames do not decode raises :class:`CorruptChunkError` and is
    skipped."""

    def __init__(
        self,
        path: str | Path,
        *,
        fps: float | None = 1.0,
        chunk_frames: int = 2,
        realtime: bool = False,
        speed: float = 1.0,
        max_pixels: int | None = None,
        backend: str = "auto",
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        from vlmctx.video import probe

        _check_chunking(chunk_frames, speed)
        self.info = probe(str(path))
        sampler = TickSampler(fps)
        self.indices = np.array(
            [i for i, t in enumerate(self.info.pts_s) if sampler.keep(float(t))], np.int64
        )
        self.fps = fps if fps is not None else self.info.fps
        self.chunk_frames, self.realtime, self.speed = int(chunk_frames), realtime, speed
        self.max_pixels, self.backend = max_pixels, backend
        self._clock, self._sleep = clock, sleep
        self._start: float | None = None
        self._next = 0

    def __len__(self) -> int:
        """Chunks in the file."""
        return -(-len(self.indices) // self.chunk_frames)

    def __iter__(self) -> FileSource:
        return self

    def __next__(self) -> Frames:
        from vlmctx.video import read_frames

        a = self._next * self.chunk_frames
        if a >= len(self.indices):
            raise StopIteration
        self._next += 1
        idx = self.indices[a : a + self.chunk_frames]
        pts = self.info.pts_s[idx]
        if self.realtime:
            self._wait_until(float(pts[-1] - self.info.pts_s[self.indices[0]]))
        try:
            return read_frames(
                self.info,
                Selection(idx, pts, float(self.fps), "live-file"),
                backend=self.backend,
                max_pixels=self.max_pixels,
            )
        except Exception as exc:  # noqa: BLE001 - decoders fail in many ways on damaged data
            if isinstance(exc, VlmctxError) and not _is_decode_error(exc):
                raise
            raise CorruptChunkError(
                f"frames {idx[0]}..{idx[-1]} ({pts[0]:.2f}s..{pts[-1]:.2f}s) of {self.info.path} "
                f"could not be decoded ({type(exc).__name__}: {_first_line(exc)}); skipped them"
            ) from exc

    def _wait_until(self, stream_s: float) -> None:
        now = self._clock()
        if self._start is None:
            self._start = now
        delay = self._start + stream_s / self.speed - now
        if delay > 0:
            self._sleep(delay)

    def close(self) -> None:
        """Nothing to release (each chunk opens and closes the file); for symmetry."""


def _is_decode_error(exc: Exception) -> bool:
    from vlmctx.errors import VideoDecodeError

    return isinstance(exc, VideoDecodeError)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


_END = object()


class LiveSource:
    """A feed PyAV can open (``rtsp://``, ``http://``, a FIFO, ``/dev/video0`` with
    ``format="v4l2"``), decoded in a background thread and delivered ``chunk_frames`` sampled
    frames at a time. ``next()`` waits at most ``stall_timeout_s`` for each frame, then raises
    :class:`SourceStalledError` (frames already gathered are kept for the next call). A packet
    that does not decode raises :class:`CorruptChunkError` once, and decoding goes on."""

    def __init__(
        self,
        url: str,
        *,
        fps: float | None = 1.0,
        chunk_frames: int = 2,
        max_pixels: int | None = None,
        stall_timeout_s: float = 10.0,
        format: str | None = None,  # noqa: A002 - PyAV's own name for the demuxer
        options: dict[str, str] | None = None,
    ) -> None:
        _check_chunking(chunk_frames, 1.0)
        if not stall_timeout_s > 0:
            raise ConfigError(f"stall_timeout_s must be positive, got {stall_timeout_s}")
        self.url, self.fps, self.chunk_frames = url, fps, int(chunk_frames)
        self.max_pixels, self.stall_timeout_s = max_pixels, float(stall_timeout_s)
        self.info: VideoInfo | None = None
        self._sampler = TickSampler(fps)
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=64 * self.chunk_frames)
        self._stop = threading.Event()
        self._buffer: list[tuple[int, float, np.ndarray]] = []
        self._ended = False
        self._container: Any = None
        self._opened = threading.Event()  # set once av.open returned or failed
        self._open_error: SourceError | None = None
        self._thread = threading.Thread(
            target=self._run, args=(format, options or {}), daemon=True, name="vlmctx-live"
        )
        self._thread.start()

    def __iter__(self) -> LiveSource:
        return self

    def wait_open(self) -> None:
        """Block until the feed is open (at most ``stall_timeout_s``); raise the open error, so
        a bad source fails before anything expensive (loading a model) starts."""
        if not self._opened.wait(self.stall_timeout_s):
            raise SourceStalledError(
                f"{self.url}: not open after {self.stall_timeout_s:g} s; check the address"
            )
        if self._open_error is not None:
            raise self._open_error

    def __next__(self) -> Frames:
        while len(self._buffer) < self.chunk_frames and not self._ended:
            try:
                item = self._queue.get(timeout=self.stall_timeout_s)
            except queue.Empty:
                got = f"after {self._buffer[-1][1]:.2f}s " if self._buffer else ""
                raise SourceStalledError(
                    f"{self.url}: no frame {got}for {self.stall_timeout_s:g} s; the source "
                    "stalled (ask again to keep waiting, or close it)"
                ) from None
            if item is _END:
                self._ended = True
            elif isinstance(item, Exception):
                if isinstance(item, CorruptChunkError):
                    raise item
                self._ended = True
                raise item
            else:
                self._buffer.append(item)
        if not self._buffer:
            raise StopIteration
        taken, self._buffer = self._buffer[: self.chunk_frames], self._buffer[self.chunk_frames :]
        return self._frames(taken)

    def _frames(self, taken: list[tuple[int, float, np.ndarray]]) -> Frames:
        assert self.info is not None
        pts = np.array([t for _, t, _ in taken], np.float64)
        rate = self.fps
        if rate is None:  # every frame: the nominal rate, else the chunk's measured one
            span = float(pts[-1] - pts[0]) if len(pts) > 1 else 0.0
            rate = self.info.fps or ((len(pts) - 1) / span if span > 0 else 1.0)
        return Frames(
            data=np.stack([d for _, _, d in taken]),  # (t, h, w, 3)
            indices=np.array([i for i, _, _ in taken], np.int64),
            pts_s=pts,
            backend="pyav-live",
            info=self.info,
            sample_fps=float(rate),
        )

    # ---- the decoding thread -------------------------------------------------------------------
    def _run(self, format: str | None, options: dict[str, str]) -> None:  # noqa: A002
        import av

        try:
            # open times out; reads do not (PyAV's read timeout would end a feed that only
            # paused): a pause is reported by ``next()`` and the feed may come back
            kw = {"timeout": (self.stall_timeout_s, None)}
            self._container = av.open(self.url, format=format, options=options, **kw)
        except Exception as exc:  # noqa: BLE001 - anything PyAV raises on open
            self._open_error = SourceError(
                f"cannot open {self.url!r} as a video source: "
                f"{type(exc).__name__}: {_first_line(exc)}"
            )
            self._opened.set()
            self._put(self._open_error)
            return
        self._opened.set()
        try:
            self._decode(self._container)
        except Exception as exc:  # noqa: BLE001 - a demuxer error ends the stream, said once
            if not self._stop.is_set():
                self._put(SourceError(f"{self.url}: the stream failed: {_first_line(exc)}"))
        finally:
            self._put(_END)
            self._close_container()

    def _decode(self, container: Any) -> None:
        import av

        from vlmctx.video.reader import output_size

        streams = [s for s in container.streams.video if not _is_cover(s)]
        if not streams:
            raise SourceError(f"{self.url} has no video stream")
        stream = streams[0]
        ctx = stream.codec_context
        rate = stream.average_rate or stream.guessed_rate or 0
        self.info = live_info(self.url, ctx.width, ctx.height, float(rate), ctx.name)
        h, w = output_size(self.info, None, self.max_pixels)
        opened, first, index = time.monotonic(), None, 0
        for packet in container.demux(stream):
            if self._stop.is_set():
                return
            try:
                decoded = packet.decode()
            except av.error.FFmpegError as exc:
                self._put(
                    CorruptChunkError(
                        f"{self.url}: a packet near frame {index} could not "
                        f"be decoded ({_first_line(exc)}); skipped it"
                    )
                )
                continue
            for frame in decoded:
                t = _exact_time(frame, opened)
                first = t if first is None else first
                if self._sampler.keep(float(t - first)):
                    rgb = frame.to_ndarray(format="rgb24", width=w, height=h)  # (h, w, 3)
                    self._put((index, float(t - first), rgb))
                index += 1

    def _put(self, item: Any) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.2)
                return
            except queue.Full:  # the consumer is slower than the feed: wait for it
                continue

    def _close_container(self) -> None:
        c, self._container = self._container, None
        if c is not None:
            try:
                c.close()
            except Exception:  # noqa: BLE001 - closing a broken feed must not raise
                log.debug("closing %s failed", self.url, exc_info=True)

    def close(self) -> None:
        """Stop decoding. A thread blocked inside the demuxer (a stalled feed) exits when its
        read returns; it is a daemon, so it never keeps the process alive."""
        self._stop.set()
        self._thread.join(timeout=1.0)

    def __enter__(self) -> LiveSource:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _exact_time(frame: Any, opened: float) -> Fraction | float:
    """The frame's PTS in seconds as an exact fraction (so differences are exact), or wall
    time since opening for a device that gives no PTS."""
    if frame.pts is not None and frame.time_base is not None:
        return frame.pts * Fraction(frame.time_base)
    return time.monotonic() - opened


def _is_cover(stream: Any) -> bool:
    disposition = getattr(stream, "disposition", None)
    return bool(disposition is not None and "attached_pic" in str(disposition).lower())


def open_source(
    source: str | Path,
    *,
    fps: float | None = 1.0,
    chunk_frames: int = 2,
    realtime: bool = False,
    speed: float = 1.0,
    max_pixels: int | None = None,
    stall_timeout_s: float = 10.0,
    live: bool | None = None,
    format: str | None = None,  # noqa: A002
) -> FileSource | LiveSource:
    """A :class:`FileSource` for a regular file, a :class:`LiveSource` for a URL, a FIFO or a
    device (``live`` forces one or the other). ``realtime``/``speed`` apply to files (a live
    feed comes at its own rate)."""
    text = str(source)
    if live is None:
        path = Path(text)
        live = (
            text.startswith(LIVE_PREFIXES)
            or format is not None
            or (path.exists() and not path.is_file())
        )
    if live:
        return LiveSource(
            text,
            fps=fps,
            chunk_frames=chunk_frames,
            max_pixels=max_pixels,
            stall_timeout_s=stall_timeout_s,
            format=format,
        )
    return FileSource(
        text,
        fps=fps,
        chunk_frames=chunk_frames,
        realtime=realtime,
        speed=speed,
        max_pixels=max_pixels,
    )


def chunks_of(source: Iterator[Frames]) -> Iterator[Frames | SourceError]:
    """The source's chunks, with a :class:`CorruptChunkError` or :class:`SourceStalledError`
    yielded in place (not raised) so a loop can report it and go on; ends at the source's end."""
    while True:
        try:
            yield next(source)
        except StopIteration:
            return
        except (CorruptChunkError, SourceStalledError) as exc:
            yield exc


__all__ = [
    "FileSource",
    "LiveSource",
    "TickSampler",
    "chunks_of",
    "is_live",
    "live_info",
    "open_source",
]
