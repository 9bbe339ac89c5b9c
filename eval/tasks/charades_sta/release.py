"""Reading the Charades-STA release as distributed: the annotation file of jiyanggao/TALL's
README (``charades_sta_test.txt``, lines ``VIDEO START END##sentence``) and the Charades v1
480p archive (``Charades_v1_480.zip``), which unpacks to ``Charades_v1_480/<id>.mp4``. The
folder names looked for, in order: ``Charades_v1_480/``, ``videos/``, the root itself."""

from __future__ import annotations

import os

VIDEO_DIRS = ("Charades_v1_480", "videos", "")
VIDEO_EXTS = (".mp4", ".MP4", ".mkv")


def find_video(root: str, video_id: str) -> str | None:
    """The file of ``video_id`` under ``root``, or None."""
    for sub in VIDEO_DIRS:
        for ext in VIDEO_EXTS:
            path = os.path.join(root, sub, video_id + ext)
            if os.path.isfile(path):
                return path
    return None
