"""Video in: probing, decoding over four backends behind one reader, and frame samplers.

Public API (implemented in the modules of this package)::

    info = probe(path)                                   # VideoInfo, cached per file
    sel = SAMPLERS.create("uniform", n=16).select(info)  # Selection: indices + true PTS
    frames = read_frames(info, sel, backend="auto", max_pixels=None)  # Frames (uint8 THWC)

Synthetic video (the H.264 writer, test clips with a readable frame counter, the toy lab's
scenes): :mod:`vlmctx.video.synthetic`. See docs/video.md.
"""

from vlmctx.video import synthetic
from vlmctx.video.probe import probe
from vlmctx.video.reader import available_backends, read_frames
from vlmctx.video.samplers import SAMPLERS, Sampler, smart_nframes, smart_resize
from vlmctx.video.types import Frames, Selection, VideoInfo

__all__ = [
    "SAMPLERS",
    "Frames",
    "Sampler",
    "Selection",
    "VideoInfo",
    "available_backends",
    "probe",
    "read_frames",
    "smart_nframes",
    "smart_resize",
    "synthetic",
]
