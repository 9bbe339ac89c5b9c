"""argparse value types that refuse bad command-line values with a message that says what to do.

Every front end (``vlmctx ask``/``plan``, and the rooms' subcommands) validates its flags at the
boundary with these, so a bad value becomes argparse's one-line ``argument --fps: ...`` error
and exit code 2 before anything is decoded, loaded or allocated. NaN and infinity are refused
everywhere: ``float("nan")`` compares false with every bound, so a plain ``x > 0`` check lets it
through. Output paths are checked without creating anything (nearest existing ancestor must be a
folder); the device check imports torch only when a GPU is asked for, so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from vlmctx.registry import did_you_mean

DTYPES = {
    "auto": "auto",
    "float32": "float32",
    "fp32": "float32",
    "float": "float32",
    "float16": "float16",
    "fp16": "float16",
    "half": "float16",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
    "float64": "float64",
    "fp64": "float64",
}  # fmt: skip  (a table: aliases of one dtype share a line)


def _number(text: str, kind: Callable[[str], float]) -> float:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def int_at_least(low: int, high: int | None = None) -> Callable[[str], int]:
    """An integer in ``[low, high]``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low or (high is not None and value > high):
            bound = f"between {low} and {high:,}" if high is not None else f">= {low}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {value}")
        return value

    parse.__name__ = "int"
    return parse


positive_int = int_at_least(1)
nonneg_int = int_at_least(0)


def float_in(
    low: float | None = None, high: float | None = None, *, open_low: bool = False
) -> Callable[[str], float]:
    """A finite float in ``[low, high]`` (``(low, high]`` with ``open_low``)."""

    def parse(text: str) -> float:
        value = float(_number(text, float))
        too_low = low is not None and (value <= low if open_low else value < low)
        if too_low or (high is not None and value > high):
            lo = "" if low is None else (f"> {low:g}" if open_low else f">= {low:g}")
            hi = "" if high is None else f"<= {high:g}"
            raise argparse.ArgumentTypeError(
                f"must be {' and '.join(x for x in (lo, hi) if x)}, got {text}"
            )
        return value

    parse.__name__ = "float"
    return parse


positive_float = float_in(0.0, open_low=True)
finite_float = float_in()
probability = float_in(0.0, 1.0)


def memory_size(text: str) -> str:
    """A positive, finite memory size such as ``24GiB`` or ``512MB`` (kept as text)."""
    from vlmctx.errors import ConfigError
    from vlmctx.units import parse_bytes

    try:
        value = parse_bytes(text)
    except (ConfigError, OverflowError):
        raise argparse.ArgumentTypeError(
            f"cannot read memory size {text!r}; use e.g. 24GiB or 512MB"
        ) from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: a memory size must be positive, e.g. 24GiB")
    return text


def prefix_cache_size(text: str) -> int | None:
    """``--prefix-cache``: bytes (``4GiB``), ``0`` (off) or ``auto`` (None: sized from free
    memory when first used)."""
    if text.strip().lower() == "auto":
        return None
    from vlmctx.errors import ConfigError
    from vlmctx.units import parse_bytes

    try:
        value = parse_bytes(text)
    except (ConfigError, OverflowError):
        raise argparse.ArgumentTypeError(
            f"cannot read prefix cache size {text!r}; use e.g. 4GiB, 0 (off) or auto"
        ) from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: the prefix cache size must be >= 0")
    return value


def add_prefix_cache_args(p: argparse.ArgumentParser) -> None:
    """``--prefix-cache`` and ``--prefix-cache-offload`` (docs/prefix-cache.md)."""
    p.add_argument(
        "--prefix-cache",
        type=prefix_cache_size,
        default=None,
        metavar="SIZE",
        help="bytes kept of videos' encoded prompt prefixes, so that another question about the "
        "same video prefills only the question (e.g. 4GiB; 0 disables; default auto: a quarter "
        "of the memory free when first used)",
    )
    p.add_argument(
        "--prefix-cache-offload",
        action="store_true",
        help="keep cached prefixes in host memory and copy them to the GPU per question",
    )


def prefix_cache_of(args: argparse.Namespace) -> Any:
    """The :class:`~vlmctx.engine.prefix_cache.PrefixCache` that the parsed flags ask for."""
    from vlmctx.engine.prefix_cache import PrefixCache

    return PrefixCache(
        getattr(args, "prefix_cache", None), bool(getattr(args, "prefix_cache_offload", False))
    )


def memory_sizes(text: str) -> str:
    """A comma list of memory sizes (``--fit 24GiB,80GiB``), each positive and finite."""
    parts = [t for t in text.split(",") if t.strip()]
    if not parts:
        raise argparse.ArgumentTypeError("give memory sizes such as 24GiB,80GiB")
    for part in parts:
        memory_size(part)
    return text


def backend(text: str) -> str:
    """A decoding backend name (``vlmctx info`` says which are available here)."""
    from vlmctx.video.reader import BACKENDS

    if text not in BACKENDS:
        raise argparse.ArgumentTypeError(
            f"unknown backend {text!r}{did_you_mean(text, BACKENDS)}; choose one of "
            f"{', '.join(BACKENDS)}"
        )
    return text


def dtype(text: str) -> str:
    """A torch floating dtype name (``bf16`` -> ``bfloat16``), or ``auto``."""
    key = text.strip().lower()
    if key not in DTYPES:
        raise argparse.ArgumentTypeError(
            f"unknown dtype {text!r}{did_you_mean(key, list(DTYPES))}; use auto, float32, "
            "float16 or bfloat16 (weights-only int8/int4 quantization is not supported)"
        )
    return DTYPES[key]


def device(text: str) -> str:
    """``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``, checked against this machine."""
    if text in ("auto", "cpu"):
        return text
    import torch

    try:
        dev = torch.device(text)
    except (RuntimeError, ValueError):
        raise argparse.ArgumentTypeError(
            f"unknown device {text!r}; use auto, cpu, cuda, cuda:N or mps"
        ) from None
    if dev.type == "cuda":
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if n == 0:
            raise argparse.ArgumentTypeError(
                f"{text!r}: no CUDA GPU is visible here; use --device cpu (or auto)"
            )
        if dev.index is not None and dev.index >= n:
            raise argparse.ArgumentTypeError(f"{text!r}: this machine has {n} GPU(s), cuda:0..")
    elif dev.type == "mps":
        if not torch.backends.mps.is_available():
            raise argparse.ArgumentTypeError(f"{text!r}: MPS is not available; use --device cpu")
    elif dev.type != "cpu":
        raise argparse.ArgumentTypeError(f"device {text!r} is not supported; use cpu or cuda")
    return text


def _creatable(path: Path) -> str | None:
    """Why a folder cannot be created at ``path`` (None when it can, or exists as a folder)."""
    for parent in (path, *path.parents):
        if parent.exists():
            if not parent.is_dir():
                return f"{parent} is a file, not a folder"
            if parent != path and not os.access(parent, os.W_OK | os.X_OK):
                return f"cannot write in {parent} (permission denied)"
            return None
    return None


def output_dir(text: str) -> str:
    """A folder to write into: an existing folder, or one that can be created."""
    if not text.strip():
        raise argparse.ArgumentTypeError("the folder name is empty")
    why = _creatable(Path(text).expanduser())
    if why:
        raise argparse.ArgumentTypeError(f"{text!r}: {why}; give a folder path")
    return text


def output_file(suffixes: Sequence[str] = ()) -> Callable[[str], str]:
    """A file to write: not a folder, its folder creatable, its name ending in ``suffixes``."""

    def parse(text: str) -> str:
        path = Path(text).expanduser()
        if not text.strip() or text.endswith(os.sep) or path.is_dir():
            raise argparse.ArgumentTypeError(f"{text!r} is a folder; give a file name inside it")
        if suffixes and path.suffix.lower() not in suffixes:
            raise argparse.ArgumentTypeError(
                f"{text!r}: the file name must end in {' or '.join(suffixes)}"
            )
        why = _creatable(path.parent)
        if why:
            raise argparse.ArgumentTypeError(f"{text!r}: {why}")
        return text

    parse.__name__ = "file"
    return parse


def existing_file(text: str) -> str:
    """A regular file that exists."""
    path = Path(text).expanduser()
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a directory; give a file")
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{text!r} not found")
    return text
