"""Print README.md's Quickstart commands, one per line: the fenced ``bash`` blocks between
``## Quickstart`` and the next ``## `` heading. ``.ci/run`` executes exactly these (it never
restates them), and tests/test_ci_readme.py checks that both sides still agree."""

from __future__ import annotations

import re
import sys
from pathlib import Path

FENCE = re.compile(r"^```bash\n(.*?)^```", re.MULTILINE | re.DOTALL)


def quickstart_commands(readme: str) -> list[str]:
    """The Quickstart section's bash commands in order (one block may hold several lines)."""
    start = readme.index("\n## Quickstart\n")
    end = readme.find("\n## ", start + 1)
    section = readme[start : end if end != -1 else len(readme)]
    blocks = FENCE.findall(section)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


if __name__ == "__main__":
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "README.md")
    print("\n".join(quickstart_commands(path.read_text(encoding="utf-8"))))
