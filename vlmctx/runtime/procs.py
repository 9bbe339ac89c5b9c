"""Process helpers shared by the rooms (``pipelines`` and ``eval`` may not import each other)."""

from __future__ import annotations

import os


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (another user's process counts as alive). Used to tell a
    crashed run's leftovers (temp files, shared-memory blocks) from those of a live one."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: another user's process
        return True
    return True
