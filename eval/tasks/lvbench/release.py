"""Reading the LVBench release as distributed.

THUDM/LVBench@f998d95541cd5f0953c52449b185c6467b9b099d: ``video_info.meta.jsonl`` goes in
``data/`` (``data/README.md``); ``scripts/download.sh`` runs ``save_video_txt.py`` (one YouTube URL
per parseable line of the meta file, in order) and then ``video2dataset --input_format txt
--output_format files --output_folder videos``, which leaves ``scripts/videos/00000/00000000.mp4``
(shard folder ``%05d``, file ``%08d`` = shard * 1000 + row with video2dataset's default 1000 per
shard; iejMac/video2dataset@28e7d1c851a2298f3a75375f6e324950405987e7 ``workers/download_worker.py``
``compute_key``, ``data_writer.py`` ``FilesSampleWriter``) with a ``00000000.json`` sidecar holding the
``url``. Videos are matched to keys by the sidecars' URLs, else by row number; a tidy
``videos/<key>.mp4`` works too.
"""

from __future__ import annotations

import json
import os
import re

META = "video_info.meta.jsonl"
META_PLACES = (META, os.path.join("data", META))
VIDEO_PLACES = ("videos", os.path.join("scripts", "videos"))
VIDEO_EXTS = (".mp4", ".MP4", ".mkv", ".webm")
_YOUTUBE = re.compile(r"(?:v=|youtu\.be/)([A-Za-z0-9_-]{6,})")


def find_meta(root: str) -> str | None:
    """``ROOT/video_info.meta.jsonl`` or ``ROOT/data/video_info.meta.jsonl``."""
    for rel in META_PLACES:
        if os.path.isfile(os.path.join(root, rel)):
            return os.path.join(root, rel)
    return None


def video2dataset_index(folder: str) -> dict[str, str]:
    """``{youtube key: video file}`` of a video2dataset ``files`` output folder, read from each
    video's ``.json`` sidecar (``url``); videos without a sidecar are left out."""
    out: dict[str, str] = {}
    for d, _, names in sorted(os.walk(folder)):
        for name in sorted(names):
            stem, ext = os.path.splitext(name)
            if ext not in VIDEO_EXTS:
                continue
            side = os.path.join(d, stem + ".json")
            try:
                with open(side, encoding="utf-8") as fh:
                    url = str(json.load(fh).get("url", ""))
            except (OSError, ValueError, AttributeError):
                continue
            m = _YOUTUBE.search(url)
            if m:
                out.setdefault(m.group(1), os.path.join(d, name))
    return out


def numbered_video(folder: str, line_index: int) -> str | None:
    """The video2dataset file of the ``line_index``-th (0-based) URL of ``videos.txt``: key
    ``shard * 1000 + i`` written as 8 digits in shard folder ``%05d`` (default 1000 per shard)."""
    shard, i = divmod(line_index, 1000)
    for ext in VIDEO_EXTS:
        path = os.path.join(folder, f"{shard:05d}", f"{shard:05d}{i:03d}{ext}")
        if os.path.isfile(path):
            return path
    return None


class VideoFinder:
    """Finds the file of a LVBench video key in any of the supported layouts under ``root``."""

    def __init__(self, root: str) -> None:
        self.folders = [
            os.path.join(root, p) for p in VIDEO_PLACES if os.path.isdir(os.path.join(root, p))
        ]
        self.index: dict[str, str] = {}
        for folder in self.folders:
            for key, path in video2dataset_index(folder).items():
                self.index.setdefault(key, path)

    def find(self, key: str, row: int) -> str | None:
        """The video of ``key`` (the ``row``-th parseable line of the meta file, 0-based)."""
        for folder in self.folders:
            for ext in VIDEO_EXTS:
                if os.path.isfile(os.path.join(folder, key + ext)):
                    return os.path.join(folder, key + ext)
        if key in self.index:
            return self.index[key]
        for folder in self.folders:
            path = numbered_video(folder, row)
            if path:
                return path
        return None
