"""Byte sizes as people write them: ``parse_bytes("8GiB")`` and ``human_bytes(1536)``.

Imports nothing from vlmctx but the error family, so argument types, the planner and the streaming
session can all use it without tying their files together.
"""

from __future__ import annotations

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
