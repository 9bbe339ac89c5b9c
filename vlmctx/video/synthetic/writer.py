"""The one H.264 writer: RGB frames -> an mp4 (PyAV + libx264, yuv420p), written atomically.

Every clip the project makes (the sample video, the test clips, the toy-lab and V-NIAH sets, the
batch benchmark's clips, FAR output) goes through :func:`write_h264`, so they share one way of
writing: the file is encoded under a temporary name beside the target that is unique to the writer
(process id + random suffix), then renamed over the target with :func:`os.replace`. A reader
therefore sees either no file or a complete one, even when a writer is killed or two writers
(threads or processes) make the same file at once.

    write_h264(path, frames, width, height, fps)                     # crf 18, veryfast
    write_h264(path, frames, w, h, 25, gop=250, scenecut=False, bframes=2)   # exact closed GOPs
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable, Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np


def temp_path(path: Path) -> Path:
    """A name beside ``path`` that no other writer (process or thread) uses."""
    return path.with_name(f"{path.name}.{os.getpid()}-{secrets.token_hex(4)}.part")


def x264_options(
    crf: int, preset: str, gop: int | None, scenecut: bool, bframes: int | None
) -> dict[str, str]:
    """libx264 options for :func:`write_h264` (see there)."""
    opts = {"preset": preset, "crf": str(crf)}
    if gop is not None and not scenecut:  # keyframes exactly every gop frames, closed GOPs
        params = [f"keyint={gop}", f"min-keyint={gop}", "scenecut=0"]
        params += [f"bframes={bframes}"] if bframes is not None else []
        opts["x264-params"] = ":".join([*params, "open-gop=0"])
        return opts
    if gop is not None:
        opts["g"] = str(gop)
    if bframes is not None:
        opts["bf"] = str(bframes)
    return opts


def write_h264(
    path: str | Path,
    frames: Iterable[np.ndarray],
    width: int,
    height: int,
    fps: float,
    *,
    crf: int = 18,
    preset: str = "veryfast",
    gop: int | None = None,
    scenecut: bool = True,
    bframes: int | None = None,
    pts_ms: Sequence[int] | None = None,
    rotation: int = 0,
) -> Path:
    """Encode RGB frames (h, w, 3) uint8, each ``height`` x ``width``, to the mp4 ``path``.

    ``gop``: at most that many frames between keyframes (x264 may add keyframes at scene cuts);
    with ``scenecut=False`` keyframes come exactly every ``gop`` frames (closed GOPs). ``bframes``:
    consecutive B-frames (None: the preset's). ``pts_ms``: frame i's presentation time in ms (time
    base 1/1000, for variable frame rate); otherwise frame i is at i / ``fps``. ``rotation``:
    display-matrix rotation (counter-clockwise degrees).
    """
    import av

    path = Path(path)
    tmp = temp_path(path)
    try:
        with av.open(str(tmp), "w", format="mp4") as out:
            stream = out.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.options = x264_options(crf, preset, gop, scenecut, bframes)
            if pts_ms is not None:
                stream.codec_context.time_base = Fraction(1, 1000)
            if rotation:
                stream.set_display_rotation(rotation)
            for i, rgb in enumerate(frames):
                frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
                if pts_ms is not None:
                    frame.pts, frame.time_base = int(pts_ms[i]), Fraction(1, 1000)
                out.mux(stream.encode(frame))
            out.mux(stream.encode(None))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
