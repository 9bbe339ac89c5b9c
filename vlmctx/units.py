"""Numbers as people write and read them: byte sizes (``parse_bytes("8GiB")``,
``human_bytes(1536)``) and floats rounded to what they mean (``rounded``: 6 significant digits, so
records and ``--json`` show ``2.16667``, not ``2.1666666666666665`` — timestamps to the 10
microseconds of a 1-minute video, timings to the microsecond; binary floats' last digits are noise).

Imports nothing from vlmctx but the error family, so argument types, the planner and the streaming
session can all use it without tying their files together.
"""

from __future__ import annotations

import math
from typing import Any

from vlmctx.errors import ConfigError

# suffix -> bytes; binary before decimal, longest first, so "kib" is not read as "b"
_UNITS = {
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "b": 1,
}  # fmt: skip  (a table: two rows, binary then decimal)


def human_bytes(n: float) -> str:
    """1536 -> '1.50 KiB'."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} B" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024
    return f"{n:.2f} TiB"


def parse_bytes(text: str) -> int:
    """'8GiB', '512MB', '1e9' -> bytes."""
    s = text.strip().lower().replace(" ", "")
    for unit, mult in _UNITS.items():
        if s.endswith(unit):
            s, factor = s[: -len(unit)], mult
            break
    else:
        factor = 1
    try:
        return int(float(s) * factor)
    except (ValueError, OverflowError) as exc:  # OverflowError: inf; ValueError: nan, words
        raise ConfigError(f"cannot read memory size {text!r}; use e.g. 8GiB or 512MB") from exc


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
