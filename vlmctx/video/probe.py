"""``probe(path) -> VideoInfo``: what a video really holds, from a scan of its packets.

Headers lie (``nb_frames`` says 431 where 300 frames decode: dmlc/decord#373), so the frame count,
the per-frame presentation times (display order) and the keyframe index come from demuxing every
video packet — no pixels are decoded except the first frame, which proves the stream decodes and
carries the display rotation. The scan costs about one read of the file (~1 s per GB) and is
cached per (path, mtime, size).

The frames are the ones FFmpeg *presents*: packets the demuxer flags discard (an MP4 edit list that
starts inside a GOP — ``ffmpeg -ss 3.3 -i in.mp4 -c copy cut.mp4`` — or a muxer that cut its last
frame) are decoded as references by every decoder but never shown, so they are not frames here
(``discarded_packets`` counts them). The stream is the first video stream that is not cover art.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from collections import OrderedDict
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import numpy as np

from vlmctx.errors import VideoDecodeError, VideoError, VideoNotFoundError
from vlmctx.video.types import VideoInfo

log = logging.getLogger(__name__)

_CACHE: OrderedDict[tuple[str, int, int], VideoInfo] = OrderedDict()
_CACHE_SIZE = 64
_ATTACHED_PIC = 0x400  # AV_DISPOSITION_ATTACHED_PIC: cover art stored as a video stream


def probe(path: str | os.PathLike[str]) -> VideoInfo:
    """Scan ``path`` and return its :class:`VideoInfo` (cached while the file is unchanged)."""
    real = _check_path(path)
    st = os.stat(real)
    key = (real, st.st_mtime_ns, st.st_size)
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    info = _probe_uncached(real, st.st_size)
    _CACHE[key] = info
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return info


def _check_path(path: str | os.PathLike[str]) -> str:
    """Resolve ``path`` and refuse, before opening it, anything that is not a readable regular file
    (opening a FIFO would block until a writer appears)."""
    p = Path(path).expanduser()
    try:
        mode = p.stat().st_mode
    except FileNotFoundError:
        raise VideoNotFoundError(
            f"video not found: {str(p)!r}. Check the path (and the cwd)."
        ) from None
    except PermissionError as exc:
        raise _denied(str(p)) from exc
    if stat.S_ISDIR(mode):
        raise VideoNotFoundError(f"{str(p)!r} is a directory, not a video file; pass a file path.")
    if not stat.S_ISREG(mode):
        raise VideoNotFoundError(
            f"{str(p)!r} is not a regular file (it is a {_file_kind(mode)}); vlmctx reads videos "
            "from files: save the stream to a file first and pass that path."
        )
    if p.stat().st_size == 0:
        raise VideoDecodeError(
            f"{str(p)!r} is empty (0 bytes); the copy or download probably failed — fetch it again."
        )
    return str(p.resolve())


def _file_kind(mode: int) -> str:
    kinds = [
        (stat.S_ISFIFO, "FIFO (named pipe)"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
        (stat.S_ISSOCK, "socket"),
    ]
    return next((name for test, name in kinds if test(mode)), "special file")


def _denied(path: str) -> VideoError:
    return VideoError(
        f"permission denied: cannot read {path!r}. Check its permissions (and its folders'), "
        "e.g. `ls -l`, or run as a user who may read it."
    )


def _open(path: str):  # noqa: ANN202 - av.container.InputContainer
    import av

    try:
        return av.open(path, mode="r")
    except PermissionError as exc:  # av.error.PermissionError is both
        raise _denied(path) from exc
    except av.error.FFmpegError as exc:
        if getattr(exc, "errno", None) == errno.EACCES:
            raise _denied(path) from exc
        raise VideoDecodeError(
            f"{path!r} is not a readable video container ({exc.__class__.__name__}: {exc}). "
            "Is it really a video (not text/HTML saved as .mp4)? Try `ffprobe` on it, or re-encode "
            "with `ffmpeg -i in -c:v libx264 out.mp4`."
        ) from exc


def _probe_uncached(path: str, size: int) -> VideoInfo:
    container = _open(path)
    try:
        stream = _video_stream(container, path)
        pts, keys, discarded, open_gop = _scan_packets(container, stream, path)
        rotation, width, height = _first_frame(container, stream, path)
        info = _build_info(path, size, stream, pts, keys, rotation, width, height)
        if discarded:
            log.info("%s: %d packets flagged discard (edit list) are not frames", path, discarded)
        return replace(
            info, discarded_packets=discarded, stream_index=stream.index, open_gop=open_gop
        )
    finally:
        container.close()


def _video_stream(container, path: str):  # noqa: ANN001, ANN202 - av VideoStream
    """The first video stream that is not an attached picture (cover art)."""
    if not container.streams:
        raise VideoDecodeError(
            f"{path!r} is a container with no streams at all (nothing was ever written into it); "
            "the recording or export did not finish. Re-export or re-download it."
        )
    videos = [s for s in container.streams.video if not s.disposition & _ATTACHED_PIC]
    if not videos:
        kinds = sorted({s.type for s in container.streams})
        what = "only cover art" if container.streams.video else ", ".join(kinds)
        raise VideoDecodeError(
            f"{path!r} has no video stream (streams: {what}); it is probably an audio-only "
            "file. Pass a file with a video track."
        )
    return videos[0]


def _scan_packets(container, stream, path: str):  # noqa: ANN001, ANN202
    """Raw pts of every presented video packet and its keyframe flag, sorted into display order;
    how many packets the demuxer flagged discard (decoded as references, never shown); and whether
    a GOP is open (a packet after a keyframe in decode order is shown before it)."""
    import av

    pts: list[int] = []
    keys: list[bool] = []
    discarded = 0
    last_dts = None
    key_pts, open_gop = None, False
    try:
        for packet in container.demux(stream):
            if packet.size == 0:
                continue
            if packet.is_keyframe:
                key_pts = packet.pts
            elif key_pts is not None and packet.pts is not None and packet.pts < key_pts:
                open_gop = True
            if packet.is_discard:
                discarded += 1
                continue
            p = packet.pts if packet.pts is not None else packet.dts
            if p is None:  # raw streams without timestamps: fall back to arrival order
                p = 0 if last_dts is None else last_dts + 1
            last_dts = p
            pts.append(int(p))
            keys.append(bool(packet.is_keyframe))
    except av.error.FFmpegError as exc:
        if not pts:
            raise VideoDecodeError(
                f"{path!r}: could not read any video packet ({exc}). The file is corrupt or "
                "truncated; re-download it or re-encode the part that plays."
            ) from exc
        log.warning("%s: packet scan stopped early (%s); keeping %d frames", path, exc, len(pts))
    if not pts:
        raise VideoDecodeError(
            f"{path!r} has a video stream but no frames (truncated or corrupt). "
            "Re-download the file, or check it plays with `ffplay`."
        )
    raw = np.asarray(pts, dtype=np.int64)
    order = np.argsort(raw, kind="stable")
    raw_sorted = raw[order]
    keyflags = np.asarray(keys, dtype=bool)[order]
    return raw_sorted, np.flatnonzero(keyflags).astype(np.int64), discarded, open_gop


def _first_frame(container, stream, path: str) -> tuple[int, int, int]:  # noqa: ANN001
    """Decode one frame: proves the stream decodes; returns (rotation, coded width, height)."""
    import av

    try:
        container.seek(0, stream=stream)
        for frame in container.decode(stream):
            return int(round(frame.rotation or 0)) % 360, frame.width, frame.height
    except av.error.FFmpegError as exc:
        raise VideoDecodeError(
            f"{path!r}: packets are present but do not decode ({exc}). The file is corrupt; "
            "re-encode it with `ffmpeg -i in -c:v libx264 out.mp4`."
        ) from exc
    raise VideoDecodeError(
        f"{path!r}: no frame could be decoded (truncated or corrupt file). Re-download it."
    )


def _median(x: np.ndarray) -> float:
    """``np.median`` of a non-empty float array without importing ``numpy.ma``, which
    ``np.median`` pulls in to check for NaNs (tens of ms of ``vlmctx info``'s start-up; the frame
    durations here come from integer timestamps and are never NaN)."""
    s = np.sort(x)
    mid = len(s) // 2
    return float(s[mid]) if len(s) % 2 else float((s[mid - 1] + s[mid]) / 2)


def _build_info(path, size, stream, raw, keys, rotation, width, height) -> VideoInfo:  # noqa: ANN001
    tb = Fraction(stream.time_base) if stream.time_base else Fraction(1, 90000)
    pts_s = raw.astype(np.float64) * float(tb)
    deltas = np.diff(pts_s)
    if len(deltas):
        step = _median(deltas)
        duration = float(pts_s[-1] - pts_s[0] + step)
        # VFR: frame durations differ by more than time-base rounding (+1% slack).
        tol = max(float(tb) * 2, step * 0.01)
        is_vfr = bool(np.max(np.abs(deltas - step)) > tol)
    else:
        rate = stream.average_rate or stream.guessed_rate or 25
        step, duration, is_vfr = 1.0 / float(rate), 1.0 / float(rate), False
    fps = (len(pts_s) / duration) if is_vfr else (1.0 / step if step > 0 else 0.0)
    rate = stream.average_rate
    if not is_vfr and rate and abs(float(rate) - fps) < 1e-3 * fps:
        fps = float(rate)  # the exact rational rate, not the float median step
    if rotation in (90, 270):
        width, height = height, width
    header = int(stream.frames) if stream.frames else None
    if header is not None and header != len(raw):
        log.info("%s: header says %d frames, packet scan finds %d", path, header, len(raw))
    return VideoInfo(
        path=path,
        num_frames=len(raw),
        fps=float(fps),
        duration_s=duration,
        width=int(width),
        height=int(height),
        rotation=rotation,
        codec=stream.codec_context.name,
        is_vfr=is_vfr,
        pts_s=pts_s,
        keyframes=keys if len(keys) else np.zeros(1, dtype=np.int64),
        header_num_frames=header,
        size_bytes=size,
        stream_pts=raw,
        time_base=tb,
        start_s=float(stream.start_time * tb) if stream.start_time is not None else 0.0,
    )


def clear_cache() -> None:
    """Forget every cached probe (tests and long-running servers)."""
    _CACHE.clear()
