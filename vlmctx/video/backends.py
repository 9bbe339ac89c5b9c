"""The single-library decoders behind :func:`vlmctx.video.read_frames`: PyAV, OpenCV, torchcodec.

Each maps a sorted list of display-order indices to frames by *presentation timestamp* (the ints
from :func:`probe`), never by counting frames after a seek, because seeks land on the preceding
keyframe and B-frames reorder output (PyAV-Org/PyAV#210, opencv/opencv#9053). Each is used the way
its library is normally used (per-frame seek for PyAV/OpenCV, ``get_frames_played_at`` for
torchcodec); the scheduled (``auto``) decoder lives in :mod:`vlmctx.video.decode_schedule` and decord in
:mod:`vlmctx.video.decord_worker`. Frames go to a :class:`FrameSink`, which rotates to display
orientation, resizes, and stores them, so no backend holds more than a chunk at full size.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

import numpy as np

from vlmctx.errors import DecoderTimeoutError, VideoDecodeError
from vlmctx.video.types import VideoInfo

TORCHCODEC_CHUNK = 16  # frames per get_frames_played_at call: bounds full-size memory


def resize_rgb(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an RGB (h, w, 3) frame to ``size=(h, w)``: area filter down, bicubic up."""
    h, w = size
    if img.shape[:2] == (h, w):
        return img
    import cv2

    shrink = h * w < img.shape[0] * img.shape[1]
    return cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)


class FrameSink:
    """Preallocated (t, h, w, 3) output; ``put`` rotates, resizes and stores one decoded frame."""

    def __init__(
        self, info: VideoInfo, count: int, size: tuple[int, int], deadline: float | None
    ) -> None:
        self.info = info
        self.size = size
        self.data = np.empty((count, size[0], size[1], 3), dtype=np.uint8)  # (t, h, w, 3)
        self.filled = np.zeros(count, dtype=bool)
        self.deadline = deadline

    def put(self, slot: int, rgb: np.ndarray, rotated: bool = False) -> None:
        """Store frame ``rgb`` (coded orientation unless ``rotated``) at position ``slot``."""
        if self.info.rotation and not rotated:
            rgb = np.rot90(rgb, k=self.info.rotation // 90)
        self.data[slot] = resize_rgb(np.ascontiguousarray(rgb), self.size)
        self.filled[slot] = True
        self.check_time()

    def check_time(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise DecoderTimeoutError(
                f"decoding {self.info.path!r} exceeded its time limit; raise timeout_s, read fewer "
                "frames, or pass max_pixels to decode less."
            )

    def missing(self) -> np.ndarray:
        return np.flatnonzero(~self.filled)


def preceding_keyframe(info: VideoInfo, index: int) -> int:
    """Display index of the last keyframe at or before ``index`` (0 when none)."""
    pos = int(np.searchsorted(info.keyframes, index, side="right")) - 1
    return int(info.keyframes[pos]) if pos >= 0 else 0


def seek_keyframe(container, stream, info: VideoInfo, kf: int) -> None:  # noqa: ANN001
    """Put PyAV's demuxer at keyframe ``kf`` (display index) the way the container allows: by
    timestamp where it has an index, by the keyframe packet's byte offset where it has none
    (MPEG-TS/PS: a timestamp seek lands a GOP late there). Display index 0 that is not a
    keyframe (frames shown before the first keyframe) goes to the start of the file."""
    if info.seek == "bytes" and info.keyframe_pos is not None:
        j = int(np.searchsorted(info.keyframes, kf))
        known = j < len(info.keyframes) and int(info.keyframes[j]) == kf
        pos = int(info.keyframe_pos[j]) if known else 0
        container.seek(pos, stream=stream, unsupported_byte_offset=True)
    else:
        container.seek(int(info.stream_pts[kf]), stream=stream, backward=True)


def refuse_unindexed(info: VideoInfo, backend: str) -> None:
    """Backends that seek by timestamp or count frames their own way cannot be trusted on a
    container without an index (MPEG-TS/PS) or a raw stream without timestamps: refuse."""
    if info.seek == "pts":
        return
    what = (
        "a raw elementary stream without timestamps"
        if info.seek == "none"
        else "a container without an index (MPEG-TS/PS), where timestamp seeks land a GOP late"
    )
    raise VideoDecodeError(
        f"{backend} cannot read {info.path!r} correctly: it is {what}, and {backend} would "
        "return wrong frames. Use backend='auto' or 'pyav', or remux it first: "
        "`ffmpeg -i in -c copy out.mp4`."
    )


def decode_counting(info: VideoInfo, indices: Sequence[int], sink: FrameSink, backend: str) -> None:
    """A raw stream without timestamps (``info.seek == "none"``): decode from the start and take
    the i-th frame the decoder shows as display index i (it cannot seek, and nothing else names
    a frame). Costs a decode up to the last wanted frame."""
    import av

    slot_of = {int(i): s for s, i in enumerate(indices)}
    last = max(slot_of)
    with av.open(info.path) as container:
        stream = container.streams[info.stream_index]
        stream.thread_type = "AUTO"
        for shown, frame in enumerate(container.decode(stream)):
            if shown in slot_of:
                sink.put(slot_of[shown], frame.to_ndarray(format="rgb24"))
            if shown >= last:
                return
            sink.check_time()
    raise _miss(info, backend, int(indices[int(sink.missing()[0])]))


def _miss(info: VideoInfo, backend: str, index: int) -> VideoDecodeError:
    return VideoDecodeError(
        f"{backend} could not produce frame {index} (pts {info.pts_s[index]:.3f}s) of "
        f"{info.path!r}: the file may be damaged after that point, or this backend cannot decode "
        f"{info.codec!r} here. Try backend='auto', or re-encode the file."
    )


def decode_pyav(info: VideoInfo, indices: Sequence[int], sink: FrameSink) -> None:
    """PyAV, one seek per frame: seek to the preceding keyframe, decode forward to the pts."""
    import av

    if info.seek == "none":
        decode_counting(info, indices, sink, "pyav")
        return
    with av.open(info.path) as container:
        stream = container.streams[info.stream_index]
        raw = info.stream_pts
        for slot, index in enumerate(indices):
            kf = preceding_keyframe(info, int(index))
            seek_keyframe(container, stream, info, kf)
            want = int(raw[index])
            for frame in container.decode(stream):
                if frame.pts is not None and frame.pts >= want:
                    if frame.pts != want:
                        raise _miss(info, "pyav", int(index))
                    sink.put(slot, frame.to_ndarray(format="rgb24"))
                    break
                sink.check_time()
            else:
                raise _miss(info, "pyav", int(index))


def decode_opencv(info: VideoInfo, indices: Sequence[int], sink: FrameSink) -> None:
    """OpenCV, one seek per frame: ``CAP_PROP_POS_FRAMES`` to the target (OpenCV decodes from the
    keyframe before it), then ``grab()`` (no colour conversion) until the reported timestamp is
    the target's, ``retrieve()`` only that frame. Within a GOP it grabs forward instead. In a
    container without an index (MPEG-TS/PS) or a raw stream OpenCV's seeks land in the wrong
    place, so it never seeks there: it grabs forward from the start (slower, still exact)."""
    import cv2

    if info.seek == "none":  # OpenCV times a raw stream its own way: frames cannot be matched
        refuse_unindexed(info, "opencv")
    cap = cv2.VideoCapture(info.path, cv2.CAP_FFMPEG)
    if not cap.isOpened():
        raise VideoDecodeError(f"OpenCV cannot open {info.path!r}; try backend='pyav'.")
    try:
        cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 0)  # rotation is applied by the sink, as elsewhere
        rel = (info.pts_s - info.start_s) * 1000.0  # what CAP_PROP_POS_MSEC reports per frame
        half = _half_step_ms(rel)
        current = -1  # display index of the last grabbed frame
        for slot, index in enumerate(indices):
            index = int(index)
            if info.seek == "pts" and not (preceding_keyframe(info, index) <= current < index):
                current = _opencv_seek(cap, info, index, rel, half)
            while current < index:
                if not cap.grab():
                    raise _miss(info, "opencv", index)
                current = _nearest(rel, cap.get(cv2.CAP_PROP_POS_MSEC), half)
                sink.check_time()
            ok, bgr = cap.retrieve() if current == index else (False, None)
            if not ok:
                raise _miss(info, "opencv", index)
            sink.put(slot, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    finally:
        cap.release()


def _half_step_ms(rel: np.ndarray) -> float:
    return float(np.min(np.diff(rel))) / 2 if len(rel) > 1 else 1e9


def _nearest(rel: np.ndarray, ms: float, half: float) -> int:
    """Display index whose timestamp is ``ms`` (within half the smallest frame step)."""
    pos = int(np.clip(np.searchsorted(rel, ms), 1, len(rel) - 1)) if len(rel) > 1 else 0
    best = pos if len(rel) == 1 or abs(rel[pos] - ms) < abs(rel[pos - 1] - ms) else pos - 1
    return best if abs(rel[best] - ms) <= half else -1


def _opencv_seek(cap, info: VideoInfo, index: int, rel: np.ndarray, half: float) -> int:  # noqa: ANN001
    """Seek and grab one frame at or before ``index``; returns its display index (-1: none yet).

    OpenCV maps frame numbers to time with the average fps (wrong on VFR): if it lands past the
    target, ask for an earlier frame number until it does not.
    """
    import cv2

    guess = int(round((info.pts_s[index] - info.start_s) * info.fps))
    for back in (0, 2, 8, 32, 128, 512):
        target = max(0, guess - back)
        cap.set(cv2.CAP_PROP_POS_FRAMES, target)
        if not cap.grab():
            continue
        got = _nearest(rel, cap.get(cv2.CAP_PROP_POS_MSEC), half)
        if 0 <= got <= index:
            return got
        if target == 0:
            break
    cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
    return -1


def decode_torchcodec(info: VideoInfo, indices: Sequence[int], sink: FrameSink) -> None:
    """torchcodec ``get_frames_at`` with the frame index from :func:`probe` passed in as
    ``custom_frame_mappings`` (exact seeks without torchcodec's own full-file scan, VFR-safe),
    threads auto (the default of 1 costs ~5x, meta-pytorch/torchcodec#1639)."""
    refuse_unindexed(info, "torchcodec")
    if info.open_gop:
        raise VideoDecodeError(
            f"torchcodec cannot read {info.path!r} correctly: it has open GOPs, and torchcodec's "
            "seeks return wrong pixels for the frames shown before a keyframe. Use backend='auto'."
        )
    try:
        _torchcodec_frames(info, indices, sink)
    except (RuntimeError, ValueError) as exc:  # torchcodec raises plain errors from FFmpeg calls
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise VideoDecodeError(
            f"torchcodec cannot decode {info.path!r} ({first}). Use backend='auto' or 'pyav'."
        ) from exc


def _torchcodec_frames(info: VideoInfo, indices: Sequence[int], sink: FrameSink) -> None:
    from torchcodec.decoders import VideoDecoder

    decoder = VideoDecoder(
        info.path,
        stream_index=info.stream_index,
        num_ffmpeg_threads=0,
        dimension_order="NHWC",
        custom_frame_mappings=frame_mappings_json(info),
    )
    idx = np.asarray(indices, dtype=np.int64)
    for start in range(0, len(idx), TORCHCODEC_CHUNK):
        chunk = idx[start : start + TORCHCODEC_CHUNK]
        batch = decoder.get_frames_at(chunk.tolist())
        got = np.rint(batch.pts_seconds.numpy() / float(info.time_base)).astype(np.int64)
        if not np.array_equal(got, info.stream_pts[chunk]):
            bad = int(chunk[np.flatnonzero(got != info.stream_pts[chunk])[0]])
            raise _miss(info, "torchcodec", bad)
        data = batch.data.numpy()  # (t, h, w, 3), already in display orientation
        for j in range(len(chunk)):
            sink.put(start + j, data[j], rotated=True)


def frame_mappings_json(info: VideoInfo) -> str:
    """The probe's frame index in the ffprobe-like JSON torchcodec accepts (pts, duration, key)."""
    raw = info.stream_pts
    dur = np.diff(raw, append=raw[-1] + (np.median(np.diff(raw)) if len(raw) > 1 else 1))
    key = np.zeros(len(raw), dtype=np.int64)
    key[info.keyframes] = 1
    frames = [
        {"pts": int(p), "duration": int(d), "key_frame": int(k)}
        for p, d, k in zip(raw, dur, key, strict=True)
    ]
    return json.dumps({"frames": frames})
