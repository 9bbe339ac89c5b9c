"""Crash-safe JSONL output for batch jobs: one record per line, appended, flushed and fsynced.

Why it survives ``SIGKILL`` at any moment: every record is encoded to one ``bytes`` line first and
written with a single ``os.write`` on an ``O_APPEND`` descriptor, then ``fsync``-ed before the next
item starts, so a record that was reported written is on disk. The only thing a kill can leave is
a *torn tail*: a last line without its newline (Linux may stop a multi-page ``write`` on a fatal
signal). :func:`repair` cuts such a tail on the next start, and that item is simply redone.

Several processes (``accelerate`` ranks) may append to the same file: each write holds an
exclusive ``flock`` on it, so lines never interleave.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vlmctx.errors import DataFormatError

log = logging.getLogger(__name__)


def repair(path: str | os.PathLike[str]) -> int:
    """Cut a torn last line (no trailing newline, or not valid JSON) off ``path``.

    Returns the number of bytes removed (0 when the file is whole or absent).
    """
    p = Path(path)
    if not p.exists():
        return 0
    with open(p, "r+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        data = fh.read()
        keep = len(data)
        if data and not data.endswith(b"\n"):
            keep = data.rfind(b"\n") + 1
        elif data:
            last_start = data.rfind(b"\n", 0, len(data) - 1) + 1
            try:
                json.loads(data[last_start:])
            except ValueError:
                keep = last_start
        if keep < len(data):
            fh.truncate(keep)
            fh.flush()
            os.fsync(fh.fileno())
            log.warning("%s: removed a torn last record (%d bytes)", p, len(data) - keep)
        return len(data) - keep


def read_records(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Yield the records of a JSONL file; a torn *last* line is skipped, any other bad line raises."""
    p = Path(path)
    if not p.exists():
        return
    lines = p.read_bytes().split(b"\n")
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError as exc:
            if n == len(lines):  # unterminated tail: a write cut short
                return
            raise DataFormatError(
                f"{p}:{n}: not a JSON record ({exc}); fix or delete that line and rerun"
            ) from exc
        if isinstance(rec, dict):
            yield rec


def finished(path: str | os.PathLike[str], *, retry_failed: bool = False) -> dict[str, dict]:
    """Last record per item id in ``path``; with ``retry_failed`` failed items are left out."""
    last: dict[str, dict] = {}
    for rec in read_records(path):
        if "id" in rec:
            last[str(rec["id"])] = rec
    if retry_failed:
        last = {k: v for k, v in last.items() if not v.get("error")}
    return last


class RecordWriter:
    """Append records to a JSONL file durably (see the module docstring)."""

    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = True) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._fsync = fsync

    def write(self, record: dict[str, Any]) -> None:
        line = (json.dumps(record, ensure_ascii=False, default=_jsonable) + "\n").encode("utf-8")
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            view = memoryview(line)
            while view:  # os.write may write less than asked; finish the line
                view = view[os.write(self._fd, view) :]
            if self._fsync:
                os.fsync(self._fd)
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _jsonable(value: Any) -> Any:
    """numpy scalars/arrays and paths in records become plain JSON values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return str(value)
