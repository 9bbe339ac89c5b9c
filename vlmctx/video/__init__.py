"""Video in: probing, decoding over four backends behind one reader, and frame samplers.

Public API (implemented in the modules of this package)::

    info = probe(path)                                   # VideoInfo, cached per file
    sel = SAMPLERS.create("uniform", n=16).select(info)  # Selection: indices + true PTS
    frames = read_frames(info, sel, backend="auto", max_pixels=None)  # Frames (uint8 THWC)

Synthetic video (the H.264 writer, test clips with a readable frame counter, the toy lab's
scenes): :mod:`vlmctx.video.synthetic`. See docs/video.md.
"""

from vlmctx.runtime.lazy import lazy_exports

# `probe` is imported here: the function shares its module's name, and importing the module
# anywhere would otherwise make the package attribute the module. The rest is imported on first
# use (vlmctx/runtime/lazy.py): `vlmctx info` needs the probe, not the samplers' registry or the decoders.
from vlmctx.video.probe import probe

_EXPORTS = {
    "synthetic": "vlmctx.video.synthetic",
    "available_backends": "vlmctx.video.reader",
    "read_frames": "vlmctx.video.reader",
    "SAMPLERS": "vlmctx.video.samplers",
    "Sampler": "vlmctx.video.samplers",
    "smart_nframes": "vlmctx.video.samplers",
    "smart_resize": "vlmctx.video.samplers",
    "Frames": "vlmctx.video.types",
    "Selection": "vlmctx.video.types",
    "VideoInfo": "vlmctx.video.types",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

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
