"""The scoring protocol of an official benchmark task: ``official`` (the benchmark's own prompt,
answer extraction and metric, quirks included) or ``lmms-eval`` (lmms-eval's task code at the
commit each port cites). Chosen with ``--task-arg <task>:protocol=official|lmms-eval``; the
default is ``official`` where the benchmark ships scoring code and ``lmms-eval`` where it does
not (LongVideoBench, Charades-STA). docs/eval.md has the fidelity table."""

from __future__ import annotations

from vlmctx.errors import ConfigError

PROTOCOLS = ("official", "lmms-eval")


def check_protocol(task: str, value: str) -> str:
    """``value`` when it names a protocol, else a one-line :class:`ConfigError`."""
    if value not in PROTOCOLS:
        raise ConfigError(f"{task}: protocol must be one of {', '.join(PROTOCOLS)}, got {value!r}")
    return value
