"""The bundled sample video, generated on first use (deterministic, no binary blob in git).

A 12-second 320x240 H.264 clip at 30 fps: a red ball crosses a dark-blue scene from left to right;
at 8.0 s a green square appears in the top-right corner and stays. ``SAMPLE_FACTS`` records what is
in it, so tests and demos can ask questions with known answers. It is drawn by the toy lab's scene
renderer (``vlmctx.video.synthetic.toy_scenes.sample_scene``), so the shipped ``toylab`` model,
trained on such scenes, answers questions about it.
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)

SAMPLE_FACTS = {
    "duration_s": 12.0,
    "fps": 30,
    "size": (320, 240),
    "ball_colour": "red",
    "square_colour": "green",
    "square_appears_s": 8.0,
}
_SAMPLE_VERSION = "3"  # 2: drawn by the toy lab's renderer (synthetic.toy_scenes); 3: big ball


def write_sample(path: Path) -> Path:
    """Encode the sample clip to ``path`` (libx264, GOP 30, B-frames)."""
    from vlmctx.video.synthetic.toy_scenes import render, sample_scene
    from vlmctx.video.synthetic.writer import write_h264

    scene = sample_scene()
    fps = int(SAMPLE_FACTS["fps"])
    w, h = SAMPLE_FACTS["size"]
    frames = (render(scene, i, w, h) for i in range(int(SAMPLE_FACTS["duration_s"] * fps)))
    return write_h264(path, frames, w, h, fps, crf=23, gop=30, bframes=2)


def sample_video() -> Path:
    """Path of the sample video, generating it into the cache on first use."""
    from vlmctx.runtime.cache import cache_root

    path = cache_root() / "assets" / f"sample-v{_SAMPLE_VERSION}.mp4"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        log.info("writing sample video to %s", path)
        write_sample(path)
    return path
