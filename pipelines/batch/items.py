"""What a batch job works on: (id, video, question) items from a folder or a CSV/JSONL manifest.

* a folder: every video file under it (recursively, sorted), asked each ``--question`` template;
* a ``.csv`` (header row) or ``.jsonl`` manifest with ``video`` and optional ``question`` and ``id``
  fields; a row without a question gets every template. Relative video paths are taken relative to
  the manifest's folder.

Templates may name ``{name}`` (file name), ``{stem}`` and ``{path}``. An item without an explicit id
gets a stable one from its video path and question, so a rerun recognises finished items. Video
paths are made absolute and the id hashes the resolved path (symlinks followed), so ``clips`` and
``/abs/clips`` (or ``./clips/``) name the same items and a rerun spelled differently redoes nothing.
Items of one video are grouped into a :class:`Job`: the video is decoded once for all of them.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from vlmctx.errors import DataFormatError

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".ts", ".flv")


@dataclass(frozen=True)
class Item:
    """One question about one video; ``id`` keys the output record."""

    id: str
    video: str
    question: str


@dataclass
class Job:
    """All items about one video (decoded once); ``size`` orders jobs longest-first."""

    video: str
    items: list[Item] = field(default_factory=list)
    size: int = 0


def canonical(video: str | os.PathLike[str]) -> str:
    """The absolute, normalised spelling of a video path (what items and records carry)."""
    return os.path.abspath(os.fspath(video))


def item_id(video: str, question: str) -> str:
    """``<stem>-<12 hex>`` of the resolved path and the question: the same for every spelling of
    the path (relative or absolute, ``./``, ``..``, a symlink to the same file)."""
    resolved = os.path.realpath(video)
    digest = hashlib.sha1(f"{resolved}\n{question}".encode()).hexdigest()[:12]
    return f"{Path(video).stem}-{digest}"


def _fill(template: str, video: str) -> str:
    p = Path(video)
    try:
        return template.format(name=p.name, stem=p.stem, path=video)
    except (KeyError, IndexError, ValueError) as exc:
        raise DataFormatError(
            f"bad question template {template!r} ({exc}); it may use {{name}}, {{stem}}, "
            "{{path}}; write literal braces as {{{{ and }}}}"
        ) from exc


def from_folder(folder: str | os.PathLike[str], templates: Sequence[str]) -> list[Item]:
    """One item per (video under ``folder``, template)."""
    if not templates:
        raise DataFormatError("a folder of videos needs at least one --question")
    root = Path(canonical(folder))
    videos = sorted(
        p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS
    )
    if not videos:
        raise DataFormatError(
            f"no videos ({', '.join(VIDEO_EXTENSIONS)}) under {root}; check the path"
        )
    return [
        Item(item_id(str(v), q), str(v), q)
        for v in videos
        for q in (_fill(t, str(v)) for t in templates)
    ]


def _rows(path: Path) -> list[dict[str, str]]:
    if path.suffix.lower() == ".csv":
        with open(path, newline="", encoding="utf-8") as fh:
            return [dict(r) for r in csv.DictReader(fh)]
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise DataFormatError(f"{path}:{n}: not JSON ({exc})") from exc
        if not isinstance(row, dict):
            raise DataFormatError(f"{path}:{n}: expected a JSON object with a 'video' field")
        rows.append(row)
    return rows


def from_manifest(path: str | os.PathLike[str], templates: Sequence[str] = ()) -> list[Item]:
    """Items from a CSV/JSONL manifest (see the module docstring)."""
    path = Path(path)
    items: list[Item] = []
    for n, row in enumerate(_rows(path), 1):
        video = str(row.get("video") or "").strip()
        if not video:
            raise DataFormatError(f"{path}: row {n} has no 'video' field")
        if not os.path.isabs(video):
            video = str(path.parent / video)
        video = canonical(video)
        question = str(row.get("question") or "").strip()
        questions = [question] if question else [_fill(t, video) for t in templates]
        if not questions:
            raise DataFormatError(
                f"{path}: row {n} has no 'question'; add the column or pass --question"
            )
        for q in questions:
            rid = str(row["id"]) if row.get("id") not in (None, "") else item_id(video, q)
            if len(questions) > 1 and row.get("id") not in (None, ""):
                rid = f"{rid}-{item_id(video, q)[-12:]}"
            items.append(Item(rid, video, q))
    ids = [i.id for i in items]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})[:5]
        raise DataFormatError(f"{path}: duplicate ids {dup}; ids must be unique")
    return items


def load_items(source: str | os.PathLike[str], templates: Sequence[str] = ()) -> list[Item]:
    """Items from a folder, a ``.csv`` or a ``.jsonl`` file."""
    p = Path(source)
    if p.is_dir():
        return from_folder(p, templates)
    if not p.exists():
        raise DataFormatError(f"{p} does not exist; pass a folder of videos or a CSV/JSONL file")
    if p.suffix.lower() not in (".csv", ".jsonl", ".json"):
        raise DataFormatError(f"{p}: expected a folder, a .csv or a .jsonl manifest")
    return from_manifest(p, templates)


def group_jobs(items: Sequence[Item]) -> list[Job]:
    """Group items by video and order the jobs longest-first (file size as the cheap proxy).

    Longest-first keeps the tail of a data-parallel run short: the long videos start early and
    the short ones fill the gaps at the end (LPT scheduling).
    """
    jobs: dict[str, Job] = {}
    for it in items:
        jobs.setdefault(it.video, Job(it.video)).items.append(it)
    for job in jobs.values():
        try:
            job.size = os.path.getsize(job.video)
        except OSError:
            job.size = 0  # missing: it fails fast, with its error recorded
    return sorted(jobs.values(), key=lambda j: -j.size)
