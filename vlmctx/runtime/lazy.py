"""Lazy package exports (PEP 562): ``from vlmctx.video import probe`` imports only the module
that defines ``probe``, not every module the package re-exports.

Why: a package ``__init__`` that imports all its modules makes every command pay for the
heaviest one (``vlmctx info`` would import the samplers' registry, the decoders and, through the
FAR package, torch). The names stay importable from the package as before.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``, whose name ``n`` lives in ``exports[n]``
    (a module path; a name equal to its module's last part is that submodule)."""

    def __getattr__(name: str) -> Any:
        where = exports.get(name)
        if where is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(where)
        return module if where.rpartition(".")[2] == name else getattr(module, name)

    def __dir__() -> list[str]:
        return sorted(set(exports) | set(vars(sys.modules[package])))

    return __getattr__, __dir__
