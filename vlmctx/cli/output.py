"""What vlmctx writes for people and files: floats rounded to what they mean, text made safe.

``rounded`` keeps 6 significant digits (timestamps to the 10 microseconds of a 1-minute video,
seconds of a timing to the microsecond), so records and ``--json`` show ``2.16667``, not
``2.1666666666666665``: binary floats' last digits are noise, not information. ``printable``
escapes control characters, so a tiny random model's byte soup cannot move the cursor, clear the
screen or ring the bell of the terminal it is printed to.
"""

from __future__ import annotations

import math
import re
from typing import Any

SIGNIFICANT = 6


def rounded(value: Any, digits: int = SIGNIFICANT) -> Any:
    """``value`` with every float (in dicts, lists, tuples) rounded to ``digits`` significant
    digits, never into its integer part; ints, strings, NaN and infinities are unchanged."""
    if isinstance(value, float):
        if value == 0 or not math.isfinite(value):
            return value
        return round(value, max(digits - 1 - math.floor(math.log10(abs(value))), 0))
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(rounded(v, digits) for v in value)
    return value


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def printable(text: str) -> str:
    """``text`` with control characters (other than newline and tab) written as escapes
    (``\\x1b``), so printing a model's output cannot drive the terminal."""
    return _CONTROL.sub(lambda m: m[0].encode("unicode_escape").decode("ascii"), text)
