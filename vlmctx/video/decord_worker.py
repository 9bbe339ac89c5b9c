"""decord, quarantined: every read runs in a fresh child process that the parent can kill.

decord 0.6 (last release 2021) hangs in native code *holding the GIL* (dmlc/decord#373, #269),
so no in-process timeout can interrupt it, and it leaks memory per reader (dmlc/decord#208,
#197). Running it in a child process turns a hang into :class:`DecoderTimeoutError` (the parent
kills the child) and returns all leaked memory to the OS when the child exits. Frames travel back
through a ``.npy`` memory map the parent allocates, so nothing is pickled.

decord addresses frames by counting, over its own frame list, and that list ignores edit lists:
on ``ffmpeg -ss 3.3 -i in.mp4 -c copy cut.mp4`` it lists 191 frames where FFmpeg presents 152, and
returns frames up to 3 off without an error. So files with discarded packets are refused before
the child starts, and the child compares decord's frame list (count and timestamps, relative to
the first) with the probe's and refuses any other mismatch (another stream picked, odd timing).

Child entry point: ``python -m vlmctx.video.decord_worker REQUEST.json``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence

import numpy as np

from vlmctx.errors import DecoderTimeoutError, VideoDecodeError
from vlmctx.video.backends import refuse_unindexed
from vlmctx.video.types import VideoInfo

DEFAULT_TIMEOUT_S = 600.0
CHUNK = 16  # frames per get_batch: bounds the child's full-size memory
_MISMATCH_EXIT = 3  # child exit code: decord's frame list is not the probe's (message on stderr)


def decode_decord(
    info: VideoInfo, indices: Sequence[int], size: tuple[int, int], timeout_s: float | None
) -> np.ndarray:
    """Decode ``indices`` with decord in a child process; (t, h, w, 3) uint8 in display orientation."""
    refuse_unindexed(info, "decord")
    if info.discarded_packets:
        raise VideoDecodeError(
            f"decord cannot read {info.path!r} correctly: its edit list hides "
            f"{info.discarded_packets} packets, which decord counts as frames (it would return "
            "the wrong frames). Use backend='auto', 'pyav' or 'torchcodec'."
        )
    if info.open_gop:
        raise VideoDecodeError(
            f"decord cannot read {info.path!r} correctly: it has open GOPs, and decord's seeks "
            "return wrong pixels for the frames shown before a keyframe. Use backend='auto'."
        )
    timeout = DEFAULT_TIMEOUT_S if timeout_s is None else float(timeout_s)
    with tempfile.TemporaryDirectory(prefix="vlmctx-decord-") as tmp:
        out_path = os.path.join(tmp, "frames.npy")
        out = np.lib.format.open_memmap(
            out_path, mode="w+", dtype=np.uint8, shape=(len(indices), size[0], size[1], 3)
        )
        del out  # the child fills it
        req = {
            "path": info.path,
            "indices": [int(i) for i in indices],
            "size": list(size),
            "pts_s": (info.pts_s - info.pts_s[0]).tolist(),
            "display": [info.height, info.width],
            "out": out_path,
        }
        req_path = os.path.join(tmp, "request.json")
        with open(req_path, "w") as fh:
            json.dump(req, fh)
        _run_child(info, req_path, timeout)
        return np.array(np.load(out_path, mmap_mode="r"))


def _run_child(info: VideoInfo, req_path: str, timeout: float) -> None:
    cmd = [sys.executable, "-m", "vlmctx.video.decord_worker", req_path]
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        proc.kill()
        proc.communicate()
        raise DecoderTimeoutError(
            f"decord did not finish reading {info.path!r} within {timeout:.1f}s (decord is known "
            "to hang, dmlc/decord#373); the worker was killed. Use backend='auto' or 'pyav', or "
            "raise timeout_s."
        ) from exc
    if proc.returncode == _MISMATCH_EXIT:
        raise VideoDecodeError(
            f"decord cannot read {info.path!r} correctly: "
            f"{err.decode(errors='replace').strip()}. Use backend='auto' or 'pyav'."
        )
    if proc.returncode != 0:
        tail = err.decode(errors="replace").strip().splitlines()[-1:]
        raise VideoDecodeError(
            f"decord failed on {info.path!r} after {time.monotonic() - start:.1f}s "
            f"(exit {proc.returncode}): {' | '.join(tail)[:300]}. Use backend='auto' or 'pyav'."
        )


def _frame_list_mismatch(reader, pts_s: list[float]) -> str | None:  # noqa: ANN001
    """Why decord's frame list differs from the probe's (count, or a timestamp off by more than
    a millisecond, both relative to the first frame), or ``None`` when it is the same list."""
    if len(reader) != len(pts_s):
        return f"it lists {len(reader)} frames where FFmpeg presents {len(pts_s)}"
    ts = reader.get_frame_timestamp(range(len(reader)))[:, 0]  # (t,) start seconds
    off = np.abs((ts - ts[0]) - np.asarray(pts_s))
    if off.max() > 1e-3:
        bad = int(np.argmax(off))
        return (
            f"its frame {bad} is at {ts[bad] - ts[0]:.3f}s where FFmpeg's is at {pts_s[bad]:.3f}s"
        )
    return None


def _child(req_path: str) -> None:
    """Runs in the child: decode with decord, resize, write into the memory map."""
    import decord

    from vlmctx.video.backends import resize_rgb

    with open(req_path) as fh:
        req = json.load(fh)
    out = np.load(req["out"], mmap_mode="r+")
    size = tuple(req["size"])
    reader = decord.VideoReader(req["path"], ctx=decord.cpu(0), num_threads=0)
    why = _frame_list_mismatch(reader, req["pts_s"])
    if why is not None:
        sys.stderr.write(why)
        sys.exit(_MISMATCH_EXIT)
    indices = req["indices"]
    for start in range(0, len(indices), CHUNK):
        chunk = indices[start : start + CHUNK]
        batch = reader.get_batch(chunk).asnumpy()  # (t, h, w, 3) RGB, display orientation
        if list(batch.shape[1:3]) != req["display"]:  # decord picked another stream
            h, w = req["display"]
            sys.stderr.write(f"it decodes {batch.shape[2]}x{batch.shape[1]} frames, not {w}x{h}")
            sys.exit(_MISMATCH_EXIT)
        for j, img in enumerate(batch):  # decord applies the display matrix itself
            out[start + j] = resize_rgb(np.ascontiguousarray(img), size)
    out.flush()


if __name__ == "__main__":
    _child(sys.argv[1])
