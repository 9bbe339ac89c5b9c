"""The one H.264 writer: RGB frames -> an mp4 (PyAV + libx264, yuv420p), written atomically.

Every clip the project makes (the sample video, the test clips, the toy-lab and V-NIAH sets,
benchmark clips, FAR output) goes through :func:`write_h264`, so they share one way of writing:
the file is encoded under a temporary name beside the target that is unique to the writer (process
id + random suffix), then renamed over the target with :func:`os.replace`. A reader therefore sees
either no file or a complete one, even when a writer is killed or two writers (threads or
processes) make the same file at once.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import numpy as np


def temp_path(path: Path) -> Path:
    """A name beside ``path`` that no other writer (process or thread) uses."""
    return path.with_name(f"{path.name}.{os.getpid()}-{secrets.token_hex(4)}.part")


def write_h264(
    path: str | Path,
    frames: Iterable[np.ndarray],
    width: int,
    height: int,
    fps: float,
    options: dict[str, str] | None = None,
) -> Path:
    """Encode RGB frames (h, w, 3) uint8 to ``path``; ``options`` are libx264's (default ``crf``
    18, veryfast)."""
    import av

    path = Path(path)
    tmp = temp_path(path)
    try:
        with av.open(str(tmp), "w", format="mp4") as out:
            stream = out.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.options = options or {"crf": "18", "preset": "veryfast"}
            for rgb in frames:
                out.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
            out.mux(stream.encode(None))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
