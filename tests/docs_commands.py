"""Shell commands of README.md and docs/*.md: extraction from fenced code blocks.

What counts as a command: every line of a ``bash``/``sh``/``shell``/``console`` block, and of a
block with no language whose lines start with a command (``vlmctx``, ``python``, ``pip`` ...);
in a block with ``$ `` prompts only the prompted lines are commands and the rest is their output.
Continuation lines (a trailing ``\\``) are joined, comment lines dropped, a trailing ``# comment``
stripped (outside quotes), whitespace collapsed: the result is the key of the reviewed table in
``test_docs_commands.py``. Python blocks are code, not commands, and are not extracted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHELL_LANGS = {"bash", "sh", "shell", "console"}
COMMAND_WORDS = ("vlmctx", "python", "python3", "pip", "accelerate", "ray", "export", "ffmpeg")
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.S | re.M)


@dataclass(frozen=True)
class DocCommand:
    """One command as the docs write it: ``text`` (normalized), where it is, and the output the
    docs show under a ``$`` prompt (``None`` when they show none)."""

    text: str
    file: str
    line: int
    output: str | None = None

    def where(self) -> str:
        return f"{self.file}:{self.line}"


def doc_files(root: Path = ROOT) -> list[Path]:
    """README.md and every Markdown file under docs/."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def strip_comment(line: str) -> str:
    """``line`` without a trailing ``# comment`` (a ``#`` after whitespace, outside quotes)."""
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line.rstrip()


def _join_continuations(lines: list[tuple[int, str]], wrapped: bool) -> list[tuple[int, str]]:
    """Logical lines: a trailing ``\\`` continues a line; with ``wrapped`` (a usage synopsis in a
    block with no language) so does an indented line."""
    out: list[tuple[int, str]] = []
    pending: tuple[int, str] | None = None
    for no, raw in lines:
        text = strip_comment(raw)
        if wrapped and pending is None and out and raw[:1].isspace() and text.strip():
            pending = out.pop()
        if pending is not None:
            no, text = pending[0], pending[1] + " " + text.strip()
            pending = None
        if text.endswith("\\"):
            pending = (no, text[:-1].rstrip())
            continue
        if text.strip():
            out.append((no, " ".join(text.split())))
    if pending is not None:
        out.append((pending[0], " ".join(pending[1].split())))
    return out


def _block_commands(lang: str, body: str, file: str, first_line: int) -> list[DocCommand]:
    lines = [(first_line + i, ln) for i, ln in enumerate(body.splitlines())]
    if any(ln.startswith("$ ") for _, ln in lines):  # prompted commands followed by output
        cmds: list[DocCommand] = []
        for i, (no, ln) in enumerate(lines):
            if ln.startswith("$ "):
                rest = [x for _, x in lines[i + 1 :]]
                end = next((j for j, x in enumerate(rest) if x.startswith("$ ")), len(rest))
                output = "\n".join(rest[:end]).strip("\n")
                text = " ".join(strip_comment(ln[2:]).split())
                cmds.append(DocCommand(text, file, no, output))
        return cmds
    if lang not in SHELL_LANGS:
        first = next((ln.strip() for _, ln in lines if ln.strip()), "")
        if lang or not first.startswith(COMMAND_WORDS):
            return []  # code, JSON, a table: not a command block
    return [DocCommand(text, file, no) for no, text in _join_continuations(lines, not lang)]


def extract(path: Path, root: Path = ROOT) -> list[DocCommand]:
    """Every command in the fenced code blocks of the Markdown file ``path``."""
    text = path.read_text()
    name = str(path.relative_to(root)) if path.is_relative_to(root) else path.name
    out: list[DocCommand] = []
    for m in FENCE.finditer(text):
        first_line = text.count("\n", 0, m.start(2)) + 1
        out.extend(_block_commands(m[1].lower(), m[2], name, first_line))
    return out


def all_commands(root: Path = ROOT) -> list[DocCommand]:
    """The commands of README.md and docs/*.md, in file order."""
    return [c for f in doc_files(root) for c in extract(f, root)]
