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

Containers without an index (MPEG-TS and M2TS, MPEG-PS: FFmpeg marks them ``AVFMT_TS_DISCONT``)
are read by seeking to the byte offset of each keyframe packet, which the scan records
(``VideoInfo.seek = "bytes"``, ``keyframe_pos``): FFmpeg's timestamp seeks land a GOP late in them.
Times stay the container's PTS, as everywhere (an FFmpeg-written .ts starts at 1.4 s plus the
B-frame delay). Raw elementary streams (.h264, .hevc: ``AVFMT_NOTIMESTAMPS``) carry no timestamps
at all: their frames are counted in display order and timed ``index / frame rate``
(``seek = "none"``; the rate the stream declares, ffprobe's r_frame_rate; ffprobe itself shows
such frames with no time).
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from collections import OrderedDict
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import numpy as np

from vlmctx.errors import VideoDecodeError, VideoError, VideoNotFoundError
from vlmctx.video.types import VideoInfo

log = logging.getLogger(__name__)

_CACHE: OrderedDict[tuple[str, int, int], VideoInfo] = OrderedDict()
_CACHE_SIZE = 64
_ATTACHED_PIC = 0x400  # AV_DISPOSITION_ATTACHED_PIC: cover art stored as a video stream
_NO_TIMESTAMPS = 0x80  # AVFMT_NOTIMESTAMPS: raw elementary streams (.h264, .hevc, .m4v)
_TS_DISCONT = 0x200  # AVFMT_TS_DISCONT: MPEG-TS / M2TS / MPEG-PS, no index, timestamps may jump
_NO_BYTE_SEEK = 0x8000  # AVFMT_NO_BYTE_SEEK
_UNINDEXED = _NO_TIMESTAMPS | _TS_DISCONT


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
        unindexed = bool(int(getattr(container.format, "flags", 0) or 0) & _UNINDEXED)
        scan = _scan_packets(container, stream, path, skip_leading=unindexed)
        mode = _seek_mode(container, scan)
        rotation, width, height = _first_frame(container, stream, path, mode)
        if mode == "bytes":
            scan = _drop_partial_tail(path, stream.index, scan)
        pts, keys = scan.pts, scan.keys
        if mode == "none":  # no timestamps: display counter at the stream's frame rate
            pts, keys = np.arange(len(pts), dtype=np.int64), np.sort(scan.decode_keys)
        info = _build_info(path, size, stream, pts, keys, rotation, width, height, mode)
        if scan.undecodable:
            log.info(
                "%s starts mid-GOP: %d packets before its first keyframe are not frames",
                path,
                scan.undecodable,
            )
        if scan.discarded:
            log.info(
                "%s: %d packets flagged discard (edit list) are not frames", path, scan.discarded
            )
        return replace(
            info,
            discarded_packets=scan.discarded,
            stream_index=stream.index,
            open_gop=scan.open_gop,
            seek=mode,
            keyframe_pos=scan.key_pos if mode == "bytes" else None,
            partial_frames=scan.partial,
        )
    finally:
        container.close()


def _seek_mode(container, scan: _Scan) -> str:  # noqa: ANN001
    """ "pts" (indexed container), "bytes" (no index: seek to keyframe byte offsets) or "none"
    (no timestamps at all: count frames from the start); see VideoInfo.seek."""
    flags = int(getattr(container.format, "flags", 0) or 0)
    if not scan.timed:
        return "none"
    if flags & _TS_DISCONT and not flags & _NO_BYTE_SEEK:
        return "bytes"
    return "pts"


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


@dataclass
class _Scan:
    """What one pass over the packets found (display order unless named otherwise)."""

    pts: np.ndarray  # (n,) int64 raw pts of presented packets, sorted
    keys: np.ndarray  # display indices of keyframes
    key_pos: np.ndarray  # (len(keys),) byte offset of each keyframe packet, -1 unknown
    decode_keys: np.ndarray  # decode-order indices of keyframes (for streams without pts)
    discarded: int  # packets flagged discard (edit list)
    undecodable: int  # packets before the first keyframe of a stream cut mid-GOP (never shown)
    open_gop: bool  # a packet after a keyframe in decode order is shown before it
    timed: bool  # any packet carried a pts or dts
    last_pts: int  # raw pts of the last packet in decode order (a cut file's partial frame)
    partial: int = 0  # frames dropped as partial (file cut short inside them)

    def without(self, drop: set[int]) -> _Scan:
        """This scan with the frames of raw pts ``drop`` removed (keyframe index kept aligned)."""
        keep = ~np.isin(self.pts, np.fromiter(drop, dtype=np.int64, count=len(drop)))
        is_key = np.zeros(len(self.pts), dtype=bool)
        is_key[self.keys] = True
        return replace(
            self,
            pts=self.pts[keep],
            keys=np.flatnonzero(is_key[keep]).astype(np.int64),
            key_pos=self.key_pos[keep[self.keys]],
            partial=self.partial + int((~keep).sum()),
        )


def _scan_packets(container, stream, path: str, skip_leading: bool = False) -> _Scan:  # noqa: ANN001
    """Raw pts, keyframe flag and byte offset of every presented video packet (see _Scan).

    ``skip_leading``: a stream without an index may start mid-GOP (a capture or a byte cut of a
    .ts); the packets before its first keyframe (decode order) miss their references, and FFmpeg
    never shows them, so they are not frames (counted in ``undecodable``)."""
    import av

    pts: list[int] = []
    keys: list[bool] = []
    pos: list[int] = []
    discarded, timed, undecodable, seen_key = 0, False, 0, False
    last_dts = None
    key_pts, open_gop = None, False
    try:
        for packet in container.demux(stream):
            if packet.size == 0:
                continue
            if skip_leading and not seen_key and not packet.is_keyframe:
                undecodable += 1
                continue
            seen_key = seen_key or packet.is_keyframe
            if packet.is_keyframe:
                key_pts = packet.pts
            elif key_pts is not None and packet.pts is not None and packet.pts < key_pts:
                open_gop = True
            if packet.is_discard:
                discarded += 1
                continue
            p = packet.pts if packet.pts is not None else packet.dts
            timed = timed or p is not None
            if p is None:  # raw streams without timestamps: fall back to arrival order
                p = 0 if last_dts is None else last_dts + 1
            last_dts = p
            pts.append(int(p))
            keys.append(bool(packet.is_keyframe))
            pos.append(int(packet.pos) if packet.pos is not None else -1)
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
    keyflags = np.asarray(keys, dtype=bool)
    return _Scan(
        pts=raw[order],
        keys=np.flatnonzero(keyflags[order]).astype(np.int64),
        key_pos=_fill_unknown(np.asarray(pos, dtype=np.int64)[order][keyflags[order]]),
        decode_keys=np.flatnonzero(keyflags).astype(np.int64),
        discarded=discarded,
        undecodable=undecodable,
        open_gop=open_gop,
        timed=timed,
        last_pts=int(raw[-1]),
    )


def _drop_partial_tail(path: str, index: int, scan: _Scan) -> _Scan:
    """A .ts cut short (a download or recording that stopped) ends inside its last packet: the
    decoder conceals the missing part of that frame and flags it corrupt, and FFmpeg still shows
    it. Such a frame does not exist in the file, only a guess of it, so it is not a frame here.
    Decodes the last two GOPs (from the second-to-last keyframe, so the last GOP's leading frames
    keep their references) and, when the frame of the last packet comes out corrupt, drops the
    corrupt frames from the last keyframe-but-one on. An intact file costs this one decode."""
    import av

    first = len(scan.keys) - 2
    from_pts = int(scan.pts[scan.keys[first]]) if first >= 0 else int(scan.pts[0])
    corrupt: set[int] = set()
    try:
        with av.open(path) as container:
            stream = container.streams.get(index)[0]
            if first > 0:
                container.seek(
                    int(scan.key_pos[first]), stream=stream, unsupported_byte_offset=True
                )
            for frame in container.decode(stream):
                if frame.is_corrupt and frame.pts is not None and frame.pts >= from_pts:
                    corrupt.add(int(frame.pts))
    except av.error.FFmpegError as exc:  # the scan already found frames; keep them all
        log.warning("%s: could not check its last frames (%s)", path, exc)
        return scan
    if scan.last_pts not in corrupt:
        return scan
    if np.isin(scan.pts, list(corrupt)).all():
        raise VideoDecodeError(
            f"{path!r} is cut short before its first complete frame (the download or recording "
            "stopped); fetch or record it again."
        )
    log.info("%s is cut short: %d partial frame(s) at its end are not frames", path, len(corrupt))
    return scan.without(corrupt)


def _fill_unknown(pos: np.ndarray) -> np.ndarray:
    """Byte offsets of keyframes with the unknown ones (-1: the demuxer did not say, as MPEG-PS
    does for some packets) replaced by the last known offset before them (0 for none): decoding
    forward from an earlier keyframe reaches the same frames, only later."""
    known = np.where(pos >= 0, np.arange(len(pos)), -1)
    last = np.maximum.accumulate(known) if len(pos) else known
    return np.where(last >= 0, pos[np.maximum(last, 0)], 0)


def _first_frame(container, stream, path: str, mode: str) -> tuple[int, int, int]:  # noqa: ANN001
    """Decode one frame: proves the stream decodes; returns (rotation, coded width, height).
    Back to the start by a seek where the container has an index; else (a raw stream cannot
    seek at all) by opening the file again."""
    import av

    fresh = None
    try:
        if mode == "pts":
            container.seek(0, stream=stream)
        else:
            fresh = _open(path)
            container, stream = fresh, fresh.streams.get(stream.index)[0]
        for frame in container.decode(stream):
            return int(round(frame.rotation or 0)) % 360, frame.width, frame.height
    except av.error.FFmpegError as exc:
        raise VideoDecodeError(
            f"{path!r}: packets are present but do not decode ({exc}). The file is corrupt; "
            "re-encode it with `ffmpeg -i in -c:v libx264 out.mp4`."
        ) from exc
    finally:
        if fresh is not None:
            fresh.close()
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


def _build_info(path, size, stream, raw, keys, rotation, width, height, mode) -> VideoInfo:  # noqa: ANN001
    tb = Fraction(stream.time_base) if stream.time_base else Fraction(1, 90000)
    if mode == "none":  # raw stream: `raw` counts frames, one tick per frame at the stream's rate
        rate = stream.average_rate or stream.guessed_rate or Fraction(25)
        tb = 1 / Fraction(rate)
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
        start_s=_start(stream, tb, mode),
    )


def _start(stream, tb: Fraction, mode: str) -> float:  # noqa: ANN001
    if mode == "none" or stream.start_time is None:
        return 0.0
    return float(stream.start_time * Fraction(stream.time_base))


def clear_cache() -> None:
    """Forget every cached probe (tests and long-running servers)."""
    _CACHE.clear()
