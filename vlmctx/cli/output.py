"""What the ``vlmctx`` command prints for people: text made safe for a terminal.

``printable`` escapes control characters, so a tiny random model's byte soup cannot move the
cursor, clear the screen or ring the bell of the terminal it is printed to. (Floats in records are
rounded by :func:`vlmctx.units.rounded`, which the engine uses too.)
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def printable(text: str) -> str:
    """``text`` with control characters (other than newline and tab) written as escapes
    (``\\x1b``), so printing a model's output cannot drive the terminal."""
    return _CONTROL.sub(lambda m: m[0].encode("unicode_escape").decode("ascii"), text)
