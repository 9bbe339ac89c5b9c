"""decord, quarantined: every read runs in a fresh child process that the parent can kill.

decord 0.6 (last release 2021) hangs in native code *holding the GIL* (dmlc/decord#373, #269),
so no in-process timeout can interrupt it, and it leaks memory per reader (dmlc/decord#208,
#197). Running it in a child process turns a hang into :class:`DecoderTimeoutError` (the parent
kills the child) and returns all leaked memory to the OS when the child exits. Frames travel back
through a ``.npy`` memory map the parent allocates, so nothing is pickled.

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
from vlmctx.video.types import VideoInfo

DEFAULT_TIMEOUT_S = 600.0
CHUNK = 16  # frames per get_batch: bounds the child's full-size memory


def decode_decord(
    info: VideoInfo, indices: Sequence[int], size: tuple[int, int], timeout_s: float | None
) -> np.ndarray:
    """Decode ``indices`` with decord in a child process; (t, h, w, 3) uint8 in display orientation."""
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
    if proc.returncode != 0:
        tail = err.decode(errors="replace").strip().splitlines()[-3:]
        raise VideoDecodeError(
            f"decord failed on {info.path!r} after {time.monotonic() - start:.1f}s "
            f"(exit {proc.returncode}): {' | '.join(tail)}. Try backend='pyav'."
        )


def _child(req_path: str) -> None:
    """Runs in the child: decode with decord, resize, write into the memory map."""
    import decord

    from vlmctx.video.backends import resize_rgb

    with open(req_path) as fh:
        req = json.load(fh)
    out = np.load(req["out"], mmap_mode="r+")
    size = tuple(req["size"])
    reader = decord.VideoReader(req["path"], ctx=decord.cpu(0), num_threads=0)
    indices = req["indices"]
    for start in range(0, len(indices), CHUNK):
        chunk = indices[start : start + CHUNK]
        batch = reader.get_batch(chunk).asnumpy()  # (t, h, w, 3) RGB, display orientation
        for j, img in enumerate(batch):  # decord applies the display matrix itself
            out[start + j] = resize_rgb(np.ascontiguousarray(img), size)
    out.flush()


if __name__ == "__main__":
    _child(sys.argv[1])
