"""Reading the Video-MME release as distributed.

- Hugging Face ``lmms-lab/Video-MME``: ``videomme/test-00000-of-00001.parquet``; the
  ``videos_chunked_*.zip`` archives extract to ``data/<videoID>.mp4`` (a few videos are ``.MP4``
  or ``.mkv``: looked for in lmms-eval's order, ``utils.videomme_doc_to_visual``);
  ``subtitle.zip`` to ``subtitle/<videoID>.srt``.
- The official results template ``evaluation/output_test_template.json``
  (MME-Benchmarks/Video-MME@06c2315b892f88578f81d73205d07cf576f292b9): one object per video
  (``video_id``, ``duration``, ``domain``, ``sub_category``, ``questions``); it has trailing commas
  (read by :func:`official.loads_template`) and NO ``videoID``: the video file is found through
  the parquet's ``video_id`` -> ``videoID`` map when the parquet is there too, else as
  ``data/<video_id>.<ext>``.
"""

from __future__ import annotations

import json
import os
from typing import Any

from vlmctx.errors import ConfigError, DataFormatError
from vlmctx_eval.tasks.videomme.official import loads_template

VIDEO_EXTS = (".mp4", ".MP4", ".mkv")


def find_video(root: str, video_id: str) -> str:
    """``ROOT/data/<id>.mp4``, else ``.MP4``, else ``.mkv``; the ``.mp4`` path when none exists
    (the loader reports it missing)."""
    base = os.path.join(root, "data", video_id)
    for ext in VIDEO_EXTS:
        if os.path.isfile(base + ext):
            return base + ext
    return base + VIDEO_EXTS[0]


def table_files(root: str) -> list[str]:
    """Every .parquet / .json / .jsonl under ``root`` outside ``subtitle/`` (sorted by path)."""
    files = sorted(
        os.path.join(d, f)
        for d, _, names in os.walk(root)
        for f in names
        if f.endswith((".parquet", ".json", ".jsonl")) and "subtitle" not in d
    )
    if not files:
        raise ConfigError(f"videomme: no .parquet/.json/.jsonl under {root!r}; see docs/eval.md")
    return files


def read_file(path: str) -> list[dict[str, Any]]:
    """Question records of one file; a results template's videos are flattened into their
    questions (each question gets its video's fields)."""
    if path.endswith(".parquet"):
        try:
            import pyarrow.parquet as pq
        except ImportError as exc:
            raise ConfigError(f"reading {path} needs pyarrow: pip install 'vlmctx[eval]'") from exc
        return pq.read_table(path).to_pylist()
    try:
        with open(path, encoding="utf-8") as fh:
            if path.endswith(".jsonl"):
                return [json.loads(ln) for ln in fh if ln.strip()]
            data = loads_template(fh.read())
    except (OSError, ValueError) as exc:
        raise DataFormatError(f"videomme: cannot read {path} ({exc})") from None
    out: list[dict[str, Any]] = []
    for item in data if isinstance(data, list) else []:
        if isinstance(item, dict) and isinstance(item.get("questions"), list):
            video = {k: v for k, v in item.items() if k != "questions"}
            out += [{**video, **q} for q in item["questions"] if isinstance(q, dict)]
        else:
            out.append(item)
    return out


def read_records(root: str) -> list[dict[str, Any]]:
    """All question records under ``root``; records without ``videoID`` (the template) get it
    from another file's ``video_id`` map, or the ``video_id`` itself. A question present in the
    parquet and in a template is kept once (the parquet's)."""
    rows: list[dict[str, Any]] = []
    for f in table_files(root):
        rows += read_file(f)
    ids = {
        str(r["video_id"]): str(r["videoID"])
        for r in rows
        if isinstance(r, dict) and r.get("videoID") and r.get("video_id") is not None
    }
    have = {str(r.get("question_id")) for r in rows if isinstance(r, dict) and r.get("videoID")}
    out = []
    for r in rows:
        if isinstance(r, dict) and not r.get("videoID") and r.get("video_id") is not None:
            if str(r.get("question_id")) in have:
                continue
            r = {**r, "videoID": ids.get(str(r["video_id"]), str(r["video_id"]))}
        out.append(r)
    return out
