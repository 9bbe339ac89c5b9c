"""``read_frames``: one reader over four decoding backends, plus ``auto`` (scheduled PyAV).

Every backend returns the same frame for the same display-order index, identified by its PTS
(tests compare each against a full sequential decode on clips with B-frames and a 250-frame GOP),
in display orientation (rotation applied), as uint8 RGB (t, h, w, 3). Indices are validated
against the *packet-scanned* frame count before any decoder runs, so a header that overstates the
length can never send decord into its endless loop (dmlc/decord#373).
"""

from __future__ import annotations

import importlib.util
import math
import os
import time
from functools import cache

import numpy as np

from vlmctx.errors import BackendUnavailableError, ConfigError, EmptySelectionError
from vlmctx.video.backends import (
    FrameSink,
    decode_opencv,
    decode_pyav,
    decode_torchcodec,
)
from vlmctx.video.decode_schedule import decode_auto
from vlmctx.video.decord_worker import decode_decord
from vlmctx.video.probe import probe
from vlmctx.video.types import Frames, Selection, VideoInfo

BACKENDS = ("auto", "torchcodec", "pyav", "decord", "opencv")
DECODED_BY = {"auto": "pyav"}  # `auto` is PyAV driven by a keyframe schedule (decode_schedule.py)


def available_backends(load: bool = True) -> dict[str, str | None]:
    """Backend name -> why it is unavailable, or ``None`` when it works here.

    ``load=False`` only looks for the libraries (``find_spec``), without loading torchcodec's
    FFmpeg libraries (which imports torch, seconds): for ``vlmctx info``, which should answer in
    the time ffprobe does. A torchcodec found so is reported as installed, not checked.
    """
    if load:
        return {name: backend_status(name) for name in BACKENDS}
    out = {n: backend_status(n) for n in BACKENDS if n != "torchcodec"}
    if importlib.util.find_spec("torchcodec") is None:
        out["torchcodec"] = "not installed (pip install 'vlmctx[decoders]')"
    else:
        out["torchcodec"] = UNCHECKED
    return {n: out[n] for n in BACKENDS}


UNCHECKED = "installed; not loaded (`vlmctx info --check-backends` loads it)"


@cache
def backend_status(name: str) -> str | None:
    """Why backend ``name`` cannot run here, or ``None``. Imports only that backend's library
    (checking torchcodec loads torch, which a PyAV read should not pay for)."""
    modules = {"pyav": "av", "auto": "av", "decord": "decord", "opencv": "cv2"}
    if name == "torchcodec":
        return _torchcodec_status()
    if importlib.util.find_spec(modules[name]) is None:
        return f"`{modules[name]}` is not installed (pip install {modules[name]})"
    return None


def _torchcodec_status() -> str | None:
    if importlib.util.find_spec("torchcodec") is None:
        return "not installed (pip install 'vlmctx[decoders]')"
    try:
        from torchcodec.decoders import VideoDecoder  # noqa: F401  - loads the FFmpeg libs
    except Exception as exc:  # noqa: BLE001 - any load failure means "unavailable"
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        return f"installed but its FFmpeg libraries do not load ({first}); apt-get install ffmpeg"
    return None


def output_size(
    info: VideoInfo, resize: tuple[int, int] | None, max_pixels: int | None
) -> tuple[int, int]:
    """(h, w) of returned frames: ``resize`` exactly, else display size shrunk to ``max_pixels``."""
    if resize is not None:
        h, w = int(resize[0]), int(resize[1])
        if h <= 0 or w <= 0:
            raise ConfigError(f"resize must be positive (height, width), got {resize}.")
        return h, w
    h, w = info.height, info.width
    if max_pixels is not None:
        if max_pixels <= 0:
            raise ConfigError(f"max_pixels must be positive, got {max_pixels}.")
        if h * w > max_pixels:
            scale = math.sqrt(max_pixels / (h * w))
            h, w = max(1, math.floor(h * scale)), max(1, math.floor(w * scale))
    return h, w


def _check_indices(info: VideoInfo, selection: Selection) -> np.ndarray:
    idx = np.asarray(selection.indices, dtype=np.int64)
    if idx.size == 0:
        raise EmptySelectionError(
            f"the selection ({selection.sampler or 'custom'}) holds zero frames of {info.path!r}; "
            "widen the window, lower the threshold, or ask for more frames."
        )
    if idx.min() < 0 or idx.max() >= info.num_frames:
        bad = int(idx.max() if idx.max() >= info.num_frames else idx.min())
        header = f"; the header claims {info.header_num_frames}" if info.header_num_frames else ""
        raise ConfigError(
            f"frame index {bad} is outside {info.path!r}, which really has {info.num_frames} "
            f"frames (0..{info.num_frames - 1}, counted from packets{header}). Sample from "
            "probe(path) so indices stay in range."
        )
    if np.any(np.diff(idx) <= 0):
        raise ConfigError("selection indices must be sorted and unique (samplers guarantee it).")
    return idx


def read_frames(
    video: str | os.PathLike[str] | VideoInfo,
    selection: Selection,
    backend: str = "auto",
    max_pixels: int | None = None,
    timeout_s: float | None = None,
) -> Frames:
    """Decode the frames of ``selection`` from ``video`` as uint8 RGB (t, h, w, 3).

    ``max_pixels`` bounds h*w (aspect kept); ``selection.resize`` sets (h, w) exactly.
    ``timeout_s`` turns a decoder that takes too long into ``DecoderTimeoutError`` (decord runs
    in a child process that is killed; the others check the clock between frames).
    """
    info = video if isinstance(video, VideoInfo) else probe(video)
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}.")
    reason = backend_status(backend)
    if reason is not None:
        raise BackendUnavailableError(f"backend {backend!r} is unavailable: {reason}.")
    idx = _check_indices(info, selection)
    size = output_size(info, selection.resize, max_pixels)
    if backend == "decord":
        data = decode_decord(info, idx.tolist(), size, timeout_s)
    else:
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        sink = FrameSink(info, len(idx), size, deadline)
        decode = {
            "auto": decode_auto,
            "pyav": decode_pyav,
            "opencv": decode_opencv,
            "torchcodec": decode_torchcodec,
        }[backend]
        decode(info, idx.tolist(), sink)
        data = sink.data
    return Frames(
        data=data,
        indices=idx,
        pts_s=info.pts_s[idx],
        backend=DECODED_BY.get(backend, backend),  # the decoder that ran (what auto chose)
        info=info,
        sample_fps=selection.sample_fps,
    )
