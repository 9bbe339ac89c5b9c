"""One generic registry for samplers, poolers, position schemes and model adapters.

A registry maps a name to a factory (a class or function). ``create(name, **params)`` checks the
name (with a "did you mean" on typos) and the parameters against the factory's signature, so an
unknown option raises instead of being silently dropped.
"""

from __future__ import annotations

import difflib
import inspect
import math
import types
import typing
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from vlmctx.errors import ConfigError

T = TypeVar("T")


def did_you_mean(
    value: str,
    choices: Iterable[str],
    *,
    n: int = 1,
    cutoff: float = 0.6,
    template: str = " (did you mean {}?)",
    quote: bool = True,
) -> str:
    """The closest ``n`` of ``choices`` to ``value`` written into ``template`` (default
    `` (did you mean 'x'?)``), or ``""`` when none is close: every "did you mean" of vlmctx."""
    close = difflib.get_close_matches(value, list(choices), n=n, cutoff=cutoff)
    if not close:
        return ""
    return template.format(", ".join(repr(c) if quote else c for c in close))


def _declares_name(factory: Callable[..., Any]) -> bool:
    """A class annotating ``name`` in its own body without giving it a value."""
    if not isinstance(factory, type):
        return False
    own = vars(factory)
    return "name" in own.get("__annotations__", {}) and "name" not in own


@dataclass
class Entry(Generic[T]):
    """A registered factory with a one-line summary for ``vlmctx ls``."""

    name: str
    factory: Callable[..., T]
    summary: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def parameters(self) -> dict[str, Any]:
        """Parameter name -> default (``inspect.Parameter.empty`` when required)."""
        sig = inspect.signature(self.factory)
        return {
            p.name: p.default
            for p in sig.parameters.values()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self"
        }


class Registry(Generic[T]):
    """Name -> factory map with validated construction."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}

    def register(
        self, name: str, summary: str = "", **meta: Any
    ) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator: register ``factory`` under ``name``. A class that declares ``name`` without
        a value (``name: ClassVar[str]``) gets it from here, so the name is written once."""

        def deco(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} registered twice")
            doc = summary or (inspect.getdoc(factory) or "").split("\n")[0]
            self._entries[name] = Entry(name, factory, doc, dict(meta))
            if _declares_name(factory):  # the name is written once, in register(...)
                factory.name = name  # type: ignore[attr-defined]
            return factory

        return deco

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry[T]]:
        return iter(self._entries[n] for n in self.names())

    def entry(self, name: str) -> Entry[T]:
        """The entry for ``name``; unknown names raise with a suggestion."""
        if name not in self._entries:
            hint = did_you_mean(name, self.names(), template=" Did you mean {}?")
            raise ConfigError(
                f"unknown {self.kind} {name!r}.{hint} Known: {', '.join(self.names())} "
                f"(`vlmctx ls` lists them with their parameters)."
            )
        return self._entries[name]

    def get(self, name: str) -> Callable[..., T]:
        return self.entry(name).factory

    def create(self, name: str, **params: Any) -> T:
        """Build ``name`` with ``params``; unknown or missing parameters raise ConfigError."""
        entry = self.entry(name)
        accepted = entry.parameters()
        unknown = sorted(set(params) - set(accepted))
        if unknown:
            raise ConfigError(
                f"{self.kind} {name!r} has no parameter(s) {', '.join(unknown)}; "
                f"it takes: {', '.join(accepted) or 'none'}."
            )
        missing = [
            k for k, v in accepted.items() if v is inspect.Parameter.empty and k not in params
        ]
        if missing:
            raise ConfigError(f"{self.kind} {name!r} needs parameter(s): {', '.join(missing)}.")
        for key, value in params.items():
            problem = _type_problem(_hints(entry.factory).get(key), value)
            if problem:
                raise ConfigError(f"{self.kind} {name!r}: {key} must be {problem}, got {value!r}.")
        try:
            return entry.factory(**params)
        except (TypeError, ValueError) as exc:
            if isinstance(exc, ConfigError):
                raise
            raise ConfigError(f"{self.kind} {name!r}: {exc}") from exc


def _hints(factory: Callable[..., Any]) -> dict[str, Any]:
    """Type hints of a factory's parameters (a class's ``__init__``); {} when unresolvable."""
    try:
        return typing.get_type_hints(factory.__init__ if inspect.isclass(factory) else factory)
    except Exception:  # a hint that does not resolve at runtime: no checking, never a crash
        return {}


_SIMPLE = {int: "a whole number", float: "a number", bool: "true or false"}


def _type_problem(hint: Any, value: Any) -> str | None:
    """What ``value`` should be when it does not fit ``hint`` (int, float, bool, optionals of
    them); None when it fits or the hint is not one of those (strings, Any, containers)."""
    args = (
        typing.get_args(hint)
        if typing.get_origin(hint) in (typing.Union, types.UnionType)
        else (hint,)
    )
    simple = [a for a in args if a in _SIMPLE]
    if not simple or len(simple) + (type(None) in args) != len(args):
        return None
    if value is None and type(None) in args:
        return None
    ok = (
        (bool in simple and isinstance(value, bool))
        or (int in simple and isinstance(value, int) and not isinstance(value, bool))
        or (
            float in simple
            and isinstance(value, int | float)
            and not isinstance(value, bool)
            and math.isfinite(value)
        )
    )
    if ok:
        return None
    what = " or ".join(_SIMPLE[a] for a in simple)
    return what + (" (or null)" if type(None) in args else "")
