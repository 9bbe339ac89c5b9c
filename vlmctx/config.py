"""``ContextConfig``: how a video becomes context (sampler, reader, pooler, position scheme).

A frozen dataclass that round-trips through dict, JSON, YAML and CLI flags (the flags live in
``vlmctx.cli.context_args``; this file imports nothing from the CLI) and is written into every
result file, so every figure says how it was made. Parameters of each component are kept as plain
mappings and validated against the component's registry when it is built, never silently dropped.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from types import MappingProxyType
from typing import Any

from vlmctx.errors import ConfigError
from vlmctx.registry import did_you_mean

_PARAM_FIELDS = ("sampler_params", "pooling_params", "position_params")
_NAME_FIELDS = ("sampler", "backend", "pooling", "position")


def _pixels(value: Any) -> int | None:
    """``max_pixels`` as a positive int (an integral float such as 1e6 is accepted), or None."""
    if value is None:
        return None
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if ok and math.isfinite(value) and value == int(value) and value > 0:
        return int(value)
    raise ConfigError(f"max_pixels must be a positive whole number such as 200704, got {value!r}")


def _freeze(params: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    return MappingProxyType(dict(params or {}))


def parse_value(text: str) -> Any:
    """Parse a CLI ``key=value`` value: JSON when it parses (numbers, bools, null, lists), else str."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        low = text.lower()
        if low in ("true", "false"):
            return low == "true"
        if low in ("none", "null"):
            return None
        return text
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{text!r} is not a finite number")
    return value


def parse_kv(items: Sequence[str] | None) -> dict[str, Any]:
    """``["n=16", "mode=middle"]`` -> ``{"n": 16, "mode": "middle"}``."""
    out: dict[str, Any] = {}
    for item in items or ():
        if "=" not in item:
            raise ConfigError(f"expected KEY=VALUE, got {item!r} (e.g. --sampler-arg n=32)")
        key, value = item.split("=", 1)
        key = key.strip().replace("-", "_")
        if not key.isidentifier():
            raise ConfigError(f"bad parameter name in {item!r}: expected KEY=VALUE, e.g. n=32")
        try:
            out[key] = parse_value(value.strip())
        except ConfigError as exc:
            raise ConfigError(f"{item!r}: {exc}") from None
    return out


@dataclass(frozen=True)
class ContextConfig:
    """Everything that decides which visual context a model sees, and how it is encoded.

    ``sampler``/``sampler_params`` pick frames (see ``vlmctx ls``); ``backend`` and ``max_pixels``
    control decoding; ``pooling``/``position`` and their params select token reducers and position
    schemes. The defaults are a plain uniform 16-frame run of the unmodified model.
    """

    sampler: str = "uniform"
    sampler_params: Mapping[str, Any] = field(default_factory=lambda: _freeze({"n": 16}))
    backend: str = "auto"
    max_pixels: int | None = None
    pooling: str = "none"
    pooling_params: Mapping[str, Any] = field(default_factory=_freeze)
    position: str = "default"
    position_params: Mapping[str, Any] = field(default_factory=_freeze)

    def __post_init__(self) -> None:
        for name in _NAME_FIELDS:
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(
                    f"{name} must be a name such as {getattr(ContextConfig, name)!r} "
                    f"(`vlmctx ls` lists them), got {value!r}"
                )
        for name in _PARAM_FIELDS:
            value = getattr(self, name)
            if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
                raise ConfigError(
                    f"{name} must be a mapping of parameter names to values, e.g. "
                    f"{{n: 32}}, got {value!r}"
                )
            object.__setattr__(self, name, _freeze(value))
        object.__setattr__(self, "max_pixels", _pixels(self.max_pixels))

    # ---- round trips -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = dict(value) if f.name in _PARAM_FIELDS else value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ContextConfig:
        if not isinstance(data, Mapping):
            raise ConfigError(
                f"a ContextConfig must be a mapping such as {{sampler: uniform}}, "
                f"got a {type(data).__name__}"
            )
        known = [f.name for f in fields(cls)]
        unknown = sorted(str(k) for k in set(data) - set(known))
        if unknown:
            hint = "".join(did_you_mean(k, known) for k in unknown[:1])
            raise ConfigError(
                f"unknown ContextConfig field(s): {', '.join(unknown)}{hint}; "
                f"known: {', '.join(known)}"
            )
        return cls(**dict(data))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ContextConfig:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"not valid JSON ({exc.msg} at line {exc.lineno})") from None
        return cls.from_dict(data)

    @classmethod
    def from_yaml(cls, text: str) -> ContextConfig:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark is not None else ""
            raise ConfigError(f"not valid YAML{where} ({getattr(exc, 'problem', exc)})") from None
        return cls.from_dict(data if data is not None else {})

    @classmethod
    def load(cls, path: str) -> ContextConfig:
        """Read a config file (``.json``, ``.yaml`` or ``.yml``)."""
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path!r}: {exc.strerror}") from exc
        except UnicodeDecodeError:
            raise ConfigError(f"config file {path!r} is not text (UTF-8 JSON or YAML)") from None
        try:
            return cls.from_json(text) if path.endswith(".json") else cls.from_yaml(text)
        except ConfigError as exc:
            raise ConfigError(f"config file {path!r}: {exc}") from None

    def replace(self, **changes: Any) -> ContextConfig:
        return replace(self, **changes)
