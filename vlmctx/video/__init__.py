"""Video in: probing, decoding over four backends behind one reader, and frame samplers.

Public API (implemented in the modules of this package)::

    info = probe(path)                                   # VideoInfo, cached per file
    sel = SAMPLERS.create("uniform", n=16).select(info)  # Selection: indices + true PTS
    frames = read_frames(info, sel, backend="auto", max_pixels=None)  # Frames (uint8 THWC)
"""

from vlmctx.video.types import Frames, Selection, VideoInfo

__all__ = ["Frames", "Selection", "VideoInfo"]
