"""Dynamic assignment of jobs to data-parallel ranks through a queue shared on the file system.

Every rank holds the same longest-first job list. A rank that is free *claims* the next job by
bumping a counter in ``<output>.queue`` under an exclusive ``flock``, so a rank that drew short
videos simply takes more of them and no rank idles while others still hold long ones (static
``islice`` sharding in lmms-eval leaves fast ranks idle for hours). The same file counts finished
items across ranks, which feeds rank 0's progress bar.

A single process needs no file: :class:`LocalQueue` is the same interface over a counter.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class LocalQueue:
    """Claims for a single process."""

    def __init__(self, n_jobs: int) -> None:
        self.n_jobs, self._next, self._done = n_jobs, 0, 0

    def claim(self) -> int | None:
        """Index of the next job, or ``None`` when all are taken."""
        if self._next >= self.n_jobs:
            return None
        self._next += 1
        return self._next - 1

    def add_done(self, n: int) -> int:
        self._done += n
        return self._done


class SharedQueue:
    """Claims shared by every process that opens the same ``path`` (see the module docstring).

    Rank 0 calls :meth:`reset` before the others open it (a barrier sits between).
    """

    def __init__(self, path: str | os.PathLike[str], n_jobs: int) -> None:
        self.path, self.n_jobs = Path(path), n_jobs

    def reset(self) -> None:
        self.path.write_text("0 0\n")

    def _update(self, d_next: int, d_done: int) -> tuple[int, int]:
        with open(self.path, "r+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            nxt, done = (int(x) for x in fh.read().split())
            fh.seek(0)
            fh.write(f"{nxt + d_next} {done + d_done}\n")
            fh.truncate()
            return nxt, done + d_done

    def claim(self) -> int | None:
        nxt, _ = self._update(1, 0)
        return nxt if nxt < self.n_jobs else None

    def add_done(self, n: int) -> int:
        return self._update(0, n)[1]

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
