"""Evaluation samples and the crash-safe JSONL files the runner writes.

A :class:`Sample` is one model call: interleaved text/image content (MMLongBench) or a video plus a
question (long-video tasks), with its gold target and metadata. Images are :class:`ImageRef` paths,
opened only when a model runs, so rescoring never touches pixels.

:class:`JsonlLog` is the resumable prediction log: each record is appended, flushed and fsynced, so a
killed run loses at most the record being written. :func:`read_jsonl` tolerates that torn last line
(it is counted and ignored, then overwritten by the next append, which starts on a fresh line).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlmctx.errors import DataFormatError
from vlmctx.runtime.procs import pid_alive


@dataclass(frozen=True)
class ImageRef:
    """An image file used in interleaved content; opened lazily as RGB."""

    path: str

    def open(self) -> Any:
        from PIL import Image

        try:
            with Image.open(self.path) as im:
                return im.convert("RGB")
        except OSError as exc:
            raise DataFormatError(f"cannot open image {self.path!r}: {exc}") from exc


@dataclass
class Sample:
    """One evaluation item. ``id`` is unique inside its task and stable across runs."""

    id: str
    target: Any
    content: list[str | ImageRef] | None = None  # chat tasks: interleaved text and images
    video: str | None = None  # video tasks: the file, asked with ``question``
    question: str | None = None
    max_new_tokens: int = 128
    meta: dict[str, Any] = field(default_factory=dict)
    # text the assistant turn starts with (MMLongBench's "Answer:"); the model continues after it
    assistant_prefix: str = ""

    def summary(self, full: bool = False) -> dict[str, Any]:
        """What the samples file records about the input (the whole text with ``full``)."""
        if self.content is None:
            return {"video": self.video, "question": self.question}
        texts = [c for c in self.content if isinstance(c, str)]
        images = [c.path for c in self.content if isinstance(c, ImageRef)]
        text = "".join(c if isinstance(c, str) else "<image>" for c in self.content)
        out: dict[str, Any] = {"n_images": len(images), "n_text_chars": sum(map(len, texts))}
        if self.assistant_prefix:
            out["assistant_prefix"] = self.assistant_prefix
        if full:
            out.update(text=text, images=images)
        else:
            out["text_head"] = text[:200]
            out["text_tail"] = text[-300:]
        return out


def read_jsonl(path: str | os.PathLike[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """Records of a JSONL file and a list of problems (bad lines, a torn tail from a kill)."""
    records: list[dict[str, Any]] = []
    problems: list[str] = []
    p = Path(path)
    if not p.exists():
        return records, problems
    if p.is_dir():
        raise DataFormatError(f"{p} is a directory; give a .jsonl file")
    with open(p, "rb") as fh:  # bytes: one undecodable line is a problem, not a crash
        for n, raw in enumerate(fh, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                problems.append(f"{p.name}:{n}: not UTF-8 text (a binary file?)")
                continue
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                torn = not line.endswith("\n")
                what = "torn last line" if torn else "not JSON (a line torn by a kill, or corrupt)"
                problems.append(f"{p.name}:{n}: {what}")
                continue
            if not isinstance(rec, dict):
                problems.append(f"{p.name}:{n}: not a JSON object")
                continue
            records.append(rec)
    return records, problems


class JsonlLog:
    """Append-only JSONL file: one record per line, flushed and fsynced before returning."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "a+b")  # noqa: SIM115 (closed in close())
        self._fh.seek(0, os.SEEK_END)
        if self._fh.tell() > 0:  # a kill can leave a torn line: start the next record on its own
            self._fh.seek(-1, os.SEEK_END)
            if self._fh.read(1) != b"\n":
                self._fh.write(b"\n")

    def append(self, record: dict[str, Any]) -> None:
        self._fh.write((json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8"))
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> JsonlLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write a whole file through a temporary file and a rename (never half-written)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, p)


# A writer's temporary file beside its target: write_h264's ``<name>.<pid>-<hex>.part``, an
# index's ``<name>.part`` / ``<name>.tmp``, older writers' ``<name>.tmp<...>.mp4``.
_PART = re.compile(r"(\.(?P<pid>\d+)-[0-9a-f]+\.part|\.part|\.tmp|\.tmp[^/]*\.mp4)$")


def remove_stale_parts(folder: str | os.PathLike[str], *, own: bool = False) -> list[str]:
    """Delete temporary files that a killed data generation left in ``folder`` (not recursive).

    A file carrying a process id is removed only when that process is gone, so a generation
    running beside this one keeps its files; ``own=True`` (after this process failed) removes
    this process's files too. Returns the names removed.
    """
    removed: list[str] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for e in entries:
        m = _PART.search(e.name)
        if m is None or not e.is_file():
            continue
        pid = int(m["pid"]) if m["pid"] else None
        if pid is not None and pid_alive(pid) and not (own and pid == os.getpid()):
            continue
        with contextlib.suppress(OSError):
            os.unlink(e.path)
            removed.append(e.name)
    return removed
