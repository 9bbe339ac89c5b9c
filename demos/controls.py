"""Typed fields for each pooler's and position scheme's parameters, generated from the registries.

The fields come from ``Entry.parameters()`` (names, defaults) and the factory's type hints
(``int`` -> whole-number field, ``float`` -> number, ``bool`` -> checkbox, ``X | None`` -> a number
field where 0 means None, "the scheme's automatic choice": Gradio's number field sends 0 for an
empty box, and every optional parameter (a factor, a window, a step) must be positive, so 0
cannot be meant as a value). A parameter of type ``str`` needs
its choices, and every parameter a line of help: the registries carry neither, so ``HELP`` and
``CHOICES`` below hold them, and ``tests/demos/test_controls.py`` fails when a registered
parameter lacks them (a new scheme cannot appear in the demo without help for its fields).

The spec part is free of Gradio (tested on its own); :func:`build_fields` makes the components.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# What each parameter does, keyed by name, or by "scheme.name" where one name means different
# things in different schemes. Sources: the factories' docstrings and the papers they cite.
HELP: dict[str, str] = {
    # poolers
    "kernel": "pool each frame's token grid by kernel x kernel cells (2: a quarter of the tokens)",
    "group": "frames per group; one frame of each group keeps its full grid",
    "progressive.full": "which frame of each group (0..group-1) keeps its full grid",
    "ratio": "the other frames of a group are pooled to grid / ratio per side",
    # position schemes
    "factor": "RoPE scale factor s; 0 = fit the sequence into the original window",
    "mrope_pp.factor": "per-axis scale s; 0 = tokens / original visual window (GIRAFFE)",
    "original_window": "tokens the model was trained on; 0 = the model's own window",
    "mrope_pp.original_window": "trained visual window L_V in tokens; 0 = the model's own",
    "dynamic": "re-derive the NTK factor from each prompt's length",
    "beta_fast": "YaRN ramp: dimensions rotating faster than this are not interpolated",
    "beta_slow": "YaRN ramp: dimensions rotating slower than this are fully interpolated",
    "attention_temperature": "scale attention logits by YaRN's temperature 0.1 ln(s) + 1",
    "base_factor": "RoPE base multiplied by this (50: the paper's 10,000 -> 500,000)",
    "logit_scaling": "scale attention logits by max(1, log_L0 n) at the prompt length n",
    "delta": "position step of each visual token (text steps 1); 0 = largest that fits",
    "target_window": "window the visual ids must fit; 0 = the model's trained visual window",
    "visual_window": "visual tokens the model was trained on; 0 = the model's own",
    "target_visual_tokens": "visual tokens to scale for; 0 = this video's visual tokens",
    "apply_to": "extended RoPE on the visual tokens only, or on the whole sequence",
}
CHOICES: dict[str, list[str]] = {"apply_to": ["visual", "all"]}
KINDS = ("pooling", "position")


@dataclass(frozen=True)
class ParamSpec:
    """One parameter of one registered pooler or scheme, as the page shows it."""

    kind: str  # "pooling" or "position"
    owner: str  # the pooler's or scheme's registered name
    name: str
    field: str  # "int", "float", "bool" or "choice"
    default: Any  # None: empty field = the scheme's automatic choice
    optional: bool  # may be left empty
    help: str
    choices: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        auto = " (0 = auto)" if self.optional else ""
        return f"{self.name}{auto}"


def _registry(kind: str) -> Any:
    if kind == "pooling":
        from vlmctx.pooling import POOLERS

        return POOLERS
    from vlmctx.position import POSITIONS

    return POSITIONS


def _field(hint: Any, name: str) -> tuple[str, bool]:
    """(field type, optional) for a parameter's type hint; TypeError when it has no field."""
    union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    args = [a for a in typing.get_args(hint) if a is not type(None)] if union else [hint]
    optional = union and len(args) < len(typing.get_args(hint))
    if len(args) == 1 and args[0] in (int, float, bool):
        return args[0].__name__, optional
    if len(args) == 1 and args[0] is str and name in CHOICES:
        return "choice", optional
    raise TypeError(f"no demo field for {name}: {hint!r} (add it to demos/controls.py)")


def param_specs(kind: str, owner: str) -> list[ParamSpec]:
    """The fields of ``owner`` (a registered pooler or scheme), in the factory's order."""
    entry = _registry(kind).entry(owner)
    factory = entry.factory
    hints = typing.get_type_hints(factory.__init__ if inspect.isclass(factory) else factory)
    specs = []
    for name, default in entry.parameters().items():
        field, optional = _field(hints.get(name), name)
        text = HELP.get(f"{owner}.{name}") or HELP.get(name)
        if text is None:
            raise KeyError(f"no help for {kind} {owner!r} parameter {name!r} in demos/controls.py")
        value = None if default is inspect.Parameter.empty else default
        specs.append(ParamSpec(kind, owner, name, field, value, optional or value is None, text,
                               tuple(CHOICES.get(name, ()))))  # fmt: skip
    return specs


def all_specs(poolers: Sequence[str], positions: Sequence[str]) -> list[ParamSpec]:
    """Every field of the page, poolers first: the order of the values ``respond`` receives."""
    return [s for n in poolers for s in param_specs("pooling", n)] + [
        s for n in positions for s in param_specs("position", n)
    ]


def chosen_params(
    specs: Sequence[ParamSpec], values: Sequence[Any], kind: str, owner: str
) -> dict[str, Any]:
    """The parameters of the selected ``owner`` whose field differs from its default.

    Defaults are left out so the config (written into every answer) names only what the user
    changed; an optional field at 0 (or empty) means the scheme's own choice and is left out.
    """
    if len(values) != len(specs):
        raise ValueError(f"{len(values)} field values for {len(specs)} fields")
    out: dict[str, Any] = {}
    for spec, value in zip(specs, values, strict=True):
        if spec.kind != kind or spec.owner != owner or value is None or value == "":
            continue
        if spec.optional and value == 0:  # 0 = None = the scheme's own choice (see above)
            continue
        if spec.field == "int":
            value = int(value)
        elif spec.field == "float":
            value = float(value)
        if value != spec.default:
            out[spec.name] = value
    return out


def defaults(specs: Sequence[ParamSpec], **overrides: dict[str, Any]) -> list[Any]:
    """Field values for ``specs``: defaults, with ``overrides[owner][name]`` where given."""
    return [overrides.get(s.owner, {}).get(s.name, s.default) for s in specs]


def build_fields(specs: Sequence[ParamSpec], selected: dict[str, str]) -> tuple[dict, list]:
    """Gradio fields for ``specs``, one hidden group per pooler/scheme (shown when selected).

    Returns ({(kind, owner): group}, [component per spec]); call inside a ``gr.Blocks``.
    """
    import gradio as gr

    groups: dict[tuple[str, str], Any] = {}
    fields: list[Any] = []
    for spec in specs:
        key = (spec.kind, spec.owner)
        if key not in groups:
            groups[key] = gr.Group(visible=selected.get(spec.kind) == spec.owner,
                                   elem_id=f"params-{spec.kind}-{spec.owner}")  # fmt: skip
        with groups[key]:
            elem_id = f"param-{spec.kind}-{spec.owner}-{spec.name}"
            common = {"label": spec.label, "info": spec.help, "elem_id": elem_id}
            if spec.field == "bool":
                fields.append(gr.Checkbox(value=bool(spec.default), **common))
            elif spec.field == "choice":
                fields.append(gr.Dropdown(list(spec.choices), value=spec.default, **common))
            else:
                precision = 0 if spec.field == "int" else None
                value = 0 if spec.optional and spec.default is None else spec.default
                fields.append(gr.Number(value=value, precision=precision, **common))
    return groups, fields
