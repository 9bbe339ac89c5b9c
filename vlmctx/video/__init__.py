"""Video in: probing, decoding over four backends behind one reader, and frame samplers.

Public API (implemented in the modules of this package)::

    info = probe(path)                                   # VideoInfo, cached per file
    sel = SAMPLERS.create("uniform", n=16).select(info)  # Selection: indices + true PTS
    frames = read_frames(info, sel, backend="auto", max_pixels=None)  # Frames (uint8 THWC)

Test clips with a readable frame counter: :mod:`vlmctx.video.synth`. See docs/video.md.
"""

from vlmctx.video import synth
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
    "synth",
]
