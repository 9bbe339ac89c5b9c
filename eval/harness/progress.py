"""Progress of a run that reads well both in a terminal and in a log file.

In a terminal (stderr is a TTY) it is a tqdm bar redrawn in place. Anywhere else (a CI log, a
``nohup`` file, a Slurm job) a redrawn bar writes a carriage return per update, hundreds of them
on one "line"; there it is a plain log line every :data:`EVERY_S` seconds and one at the end,
each on its own line: ``toylab [rank 0]: 12/40 samples (30%), 1.9 s/sample, about 53 s left``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any, TextIO, TypeVar

T = TypeVar("T")
EVERY_S = 30.0


def progress(
    items: Iterable[T], desc: str, enabled: bool = True, stream: TextIO | None = None
) -> Iterator[T]:
    """Iterate ``items`` with a progress display (nothing when ``enabled`` is false)."""
    stream = stream or sys.stderr
    if not enabled:
        yield from items
        return
    if _is_tty(stream):
        from tqdm import tqdm

        yield from tqdm(items, desc=desc, unit="sample", file=stream)
        return
    yield from _lines(list(items), desc, stream)


def _is_tty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _lines(items: list[T], desc: str, stream: TextIO, every_s: float = EVERY_S) -> Iterator[T]:
    total = len(items)
    if not total:  # nothing left to do (a resumed run): no line
        return
    start = last = time.monotonic()
    print(f"{desc}: 0/{total} samples", file=stream, flush=True)
    for done, item in enumerate(items, 1):
        yield item
        now = time.monotonic()
        if done == total or now - last >= every_s:
            last = now
            per = (now - start) / done
            left = f", about {per * (total - done):.0f} s left" if done < total else ""
            print(
                f"{desc}: {done}/{total} samples ({100 * done / total:.0f}%), "
                f"{per:.2f} s/sample{left}",
                file=stream,
                flush=True,
            )
