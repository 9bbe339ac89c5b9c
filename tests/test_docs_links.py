"""Every relative link in README.md and docs/*.md resolves (issue 24, part 6).

A moved or renamed file, or a reworded heading, silently breaks the docs' links; this test reads
every Markdown link and image (``[text](target)``, ``![alt](target)``, reference definitions
``[id]: target``) outside code, and checks that a relative target names an existing file or
folder and that an anchor (``file.md#heading`` or ``#heading``) names a heading of that file, with
GitHub's slug rules. Absolute URLs (``http:``, ``https:``, ``mailto:``) are not fetched: no network.
"""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path

import pytest

from tests.docs_commands import ROOT, doc_files

FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.S | re.M)
INLINE_CODE = re.compile(r"`+[^`\n]*`+")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REF_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$", re.M)
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.M)
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)


def _prose(text: str) -> str:
    """``text`` without fenced code blocks and inline code (links there are not links)."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: markup dropped, lower case, punctuation removed (``-`` and
    ``_`` kept), spaces to ``-``."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading: its text
    text = text.replace("`", "").lower()
    kept = []
    for ch in text:
        if ch in " -_" or unicodedata.category(ch)[0] in "LN":
            kept.append(ch)
    return "".join(kept).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """The anchors of ``path``'s headings; a repeated heading gets ``-1``, ``-2`` ... as on GitHub."""
    seen: dict[str, int] = {}
    out: set[str] = set()
    for m in HEADING.finditer(FENCE.sub("", path.read_text())):
        base = slug(m.group(1))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def links(path: Path) -> list[str]:
    """Every link target written in ``path``'s prose, in order."""
    text = _prose(path.read_text())
    return [m.group(1) for m in LINK.finditer(text)] + REF_DEF.findall(text)


def broken(path: Path) -> list[str]:
    """The relative links of ``path`` that name a missing file or a missing heading."""
    bad = []
    for target in links(path):
        if EXTERNAL.match(target):
            continue
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            bad.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            bad.append(f"{target}: no heading #{anchor} in {os.path.relpath(dest, path.parent)}")
    return bad


@pytest.mark.parametrize("path", doc_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(path: Path) -> None:
    assert links(path) or path.name != "README.md", "README.md should link its docs"
    bad = broken(path)
    assert not bad, f"{path.relative_to(ROOT)}: broken links:\n" + "\n".join(bad)


def test_link_rules(tmp_path: Path) -> None:
    """The checker finds a missing file, a missing anchor and a repeated heading's anchor, and
    ignores links in code and absolute URLs."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text(
        "# Title\n\n## Measured: memory (MiB) vs `length`\n\n## Same\n\n## Same\n"
    )
    page = tmp_path / "README.md"
    page.write_text(
        "[ok](docs/a.md) ![img](docs/a.md) [anchor](docs/a.md#measured-memory-mib-vs-length)\n"
        "[second](docs/a.md#same-1) [self](#top) [web](https://example.com/x.md)\n"
        "[gone](docs/b.md) [bad](docs/a.md#nope) `[code](docs/c.md)`\n\n"
        "```\n[fenced](docs/d.md)\n```\n\n# Top\n\n[ref]: docs/e.md\n"
    )
    assert slug("Measured: memory (MiB) vs `length`") == "measured-memory-mib-vs-length"
    assert broken(page) == [
        "docs/b.md: no such file",
        "docs/a.md#nope: no heading #nope in docs/a.md",
        "docs/e.md: no such file",
    ]
