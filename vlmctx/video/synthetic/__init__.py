"""Synthetic video, generated here so that tests, demos and experiments need no downloads.

- :mod:`~vlmctx.video.synthetic.writer`: the one H.264 writer (atomic, safe for concurrent writers);
- :mod:`~vlmctx.video.synthetic.clips`: test clips with a readable frame counter (exact GOP,
  B-frames, VFR, rotation, cuts), plus broken files (audio only, truncated);
- :mod:`~vlmctx.video.synthetic.toy_scenes`: the toy lab's procedural scenes with known answers
  (also the bundled sample video, :mod:`vlmctx.runtime.assets`).

Only numpy is imported here; PyAV is imported when a file is written.
"""

from vlmctx.video.synthetic import clips, toy_scenes, writer

__all__ = ["clips", "toy_scenes", "writer"]
