"""Position schemes: pure functions of (``TokenLayout``, ``RopeSpec``) -> ``Positions``.

Registered in ``POSITIONS`` (``vlmctx ls``); build one with ``POSITIONS.create(name, **params)``
and call ``scheme.positions(layout, spec)``. No model imports: the adapters apply the positions to
a model
(position ids + the generic rotary of ``vlmctx.position.rotary``). docs/positions.md explains
each scheme; the papers:

- ``pi`` Chen et al. arXiv 2306.15595; ``ntk`` (NTK-aware / dynamic NTK) and ``yarn`` Peng et
  al. arXiv 2309.00071; ``entropy_abf`` Zhang et al. arXiv 2401.07004 — whole sequence.
- ``vcwe`` Wei & Chen arXiv 2409.20018: YaRN whose scale and ramp come from the *visual*
  context window seen in training, ``s = L_v(test) / L_v(train)``, ``r_j = L_v(train)/lambda_j``.
- ``v2pe`` Ge et al. arXiv 2412.09616: text +1, visual +delta.
- ``mrope_pp`` GIRAFFE, Li et al. arXiv 2412.12735, Eq. 6: per-axis frequency scaling for M-RoPE.

Every scheme at its identity setting (factor 1, delta 1, s <= 1) returns exactly ``default``.
"""

from __future__ import annotations

import logging
import math
from typing import ClassVar, Protocol

import torch

from vlmctx.errors import ConfigError, UnsupportedModelError
from vlmctx.position import rope
from vlmctx.position.ids import base_position_ids
from vlmctx.position.types import Positions, RopeSpec, TokenLayout
from vlmctx.registry import Registry

log = logging.getLogger(__name__)

__all__ = ["POSITIONS", "PositionScheme", "V2PE_DELTAS", "compute_positions", "identity_params"]


class PositionScheme(Protocol):
    """A configured scheme: ``positions(layout, spec)`` for one unpadded sequence.

    Class attributes every registered scheme declares: ``identity`` (parameters under which it
    must reproduce the unpatched model exactly; the tests run every scheme with them) and
    ``requires_mrope`` (True when it only applies to 3-axis M-RoPE models).
    """

    identity: ClassVar[dict[str, object]]
    requires_mrope: ClassVar[bool]

    def positions(self, layout: TokenLayout, spec: RopeSpec) -> Positions: ...


POSITIONS: Registry[PositionScheme] = Registry("position scheme")

# V2PE's training set of visual steps (arXiv 2412.09616 §3.2): 1, 1/2, ..., 1/256.
V2PE_DELTAS: tuple[float, ...] = tuple(2.0**-j for j in range(9))


def _positions(
    pos: torch.Tensor,
    next_position: float,
    tables: list[tuple[torch.Tensor, float]],
    token_group: torch.Tensor | None = None,
    **info: object,
) -> Positions:
    inv = torch.stack([t for t, _ in tables]).to(torch.float32)  # (g, d/2)
    scale = torch.tensor([s for _, s in tables], dtype=torch.float32)  # (g,)
    return Positions(pos, next_position, inv, scale, token_group, dict(info))


def _default_tables(spec: RopeSpec) -> list[tuple[torch.Tensor, float]]:
    return [(rope.default_inv_freq(spec.head_dim, spec.rope_theta), 1.0)]


def _auto_factor(factor: float | None, next_position: float, window: int) -> float:
    """An explicit factor, or the one that squeezes the sequence into ``window`` positions."""
    if factor is not None:
        if factor <= 0:
            raise ConfigError(f"factor must be positive, got {factor}")
        return float(factor)
    return max(1.0, next_position / window)


def _check_window(value: int | None, name: str) -> None:
    if value is not None and value <= 0:
        raise ConfigError(f"{name} must be a positive number of tokens, got {value}")


def _frequency_info(inv: torch.Tensor, spec: RopeSpec, s: float) -> dict[str, int]:
    """How many of the d/2 frequencies a table keeps (ratio 1), interpolates fully (1/s) or
    changes otherwise (ramped / new base), against the model's own."""
    ratio = inv / rope.default_inv_freq(spec.head_dim, spec.rope_theta)  # (d/2,)
    kept = int(torch.isclose(ratio, torch.ones_like(ratio), rtol=1e-6, atol=0.0).sum())
    full = torch.isclose(ratio, torch.full_like(ratio, 1.0 / s), rtol=1e-6, atol=0.0)
    interpolated = int(full.sum()) if s > 1.0 else 0
    return {
        "frequencies_kept": kept,
        "frequencies_interpolated": interpolated,
        "frequencies_changed_otherwise": int(ratio.numel()) - kept - interpolated,
    }


_WARNED: set[str] = set()


def _warn_identity(name: str, why: str) -> None:
    """An automatic setting that changes nothing for this input is worth saying — once per
    scheme and process at WARNING (an eval asks thousands of questions), then at DEBUG; every
    answer's ``extra["position"]`` still reports the factor or delta it used."""
    level = logging.DEBUG if name in _WARNED else logging.WARNING
    _WARNED.add(name)
    log.log(level, "%s changes nothing for this input: %s", name, why)


@POSITIONS.register("default", summary="the model's own position ids and RoPE frequencies")
class Default:
    identity: ClassVar[dict[str, object]] = {}
    requires_mrope: ClassVar[bool] = False

    def positions(self, layout: TokenLayout, spec: RopeSpec) -> Positions:
        pos, nxt = base_position_ids(layout, spec.is_mrope)
        return _positions(pos, nxt, _default_tables(spec))


class _WholeSequence:
    """Shared by the baselines: default ids, one frequency table for every token."""

    identity: ClassVar[dict[str, object]] = {"factor": 1.0}
    requires_mrope: ClassVar[bool] = False

    def __init__(self, factor: float | None, original_window: int | None) -> None:
        _check_window(original_window, "original_window")
        if factor is not None and factor <= 0:
            raise ConfigError(f"factor must be positive, got {factor}")
        self.factor, self.original_window = factor, original_window

    def _setup(self, layout: TokenLayout, spec: RopeSpec):
        pos, nxt = base_position_ids(layout, spec.is_mrope)
        window = self.original_window or spec.window
        return pos, nxt, window, _auto_factor(self.factor, nxt, window)


@POSITIONS.register("pi", summary="position interpolation on the whole sequence (2306.15595)")
class PositionInterpolation(_WholeSequence):
    """All frequencies / s; ``factor`` None = fit the sequence into ``original_window``."""

    def __init__(self, factor: float | None = None, original_window: int | None = None) -> None:
        super().__init__(factor, original_window)

    def positions(self, layout: TokenLayout, spec: RopeSpec) -> Positions:
        pos, nxt, window, s = self._setup(layout, spec)
        inv = rope.linear_inv_freq(spec.head_dim, spec.rope_theta, s) if s > 1 else None
        tables = [(inv, 1.0)] if inv is not None else _default_tables(spec)
        if s <= 1.0 and self.factor is None:
            _warn_identity("pi", f"{nxt:.0f} positions fit original_window {window}")
        info = _frequency_info(tables[0][0], spec, s)
        return _positions(pos, nxt, tables, factor=s, original_window=window, **info)


@POSITIONS.register("ntk", summary="NTK-aware base scaling, static or dynamic (2309.00071)")
class NTK(_WholeSequence):
    """Larger base ``b * s^(d/(d-2))``; ``dynamic`` re-derives s from the prompt length."""

    def __init__(
        self, factor: float | None = None, original_window: int | None = None, dynamic: bool = False
    ) -> None:
        super().__init__(factor, original_window)
        self.dynamic = bool(dynamic)

    def positions(self, layout: TokenLayout, spec: RopeSpec) -> Positions:
        pos, nxt, window, s = self._setup(layout, spec)
        d, base = spec.head_dim, spec.rope_theta
        if self.dynamic:
            dyn = 1.0 if self.factor is None else self.factor
            inv = rope.dynamic_ntk_inv_freq(d, base, dyn, nxt, window)
            return _positions(
                pos, nxt, [(inv, 1.0)], factor=dyn, dynamic=True, original_window=window
            )
        inv = rope.ntk_inv_freq(d, base, s)
        if s <= 1.0 and self.factor is None:
            _warn_identity("ntk", f"{nxt:.0f} positions fit original_window {window}")
        info = _frequency_info(inv, spec, s)
        return _positions(pos, nxt, [(inv, 1.0)], factor=s, original_window=window, **info)


@POSITIONS.register("yarn", summary="YaRN on the whole sequence (2309.00071)")
class YaRN(_WholeSequence):
    """YaRN ramp + temperature relative to the language window ``original_window``."""

    def __init__(
        self,
        factor: float | None = None,
        original_window: int | None = None,
        beta_fast: float = 32.0,
        beta_slow: float = 1.0,
        attention_temperature: bool = True,
    ) -> None:
        super().__init__(factor, original_window)
        self.beta_fast, self.beta_slow = float(beta_fast), float(beta_slow)
        self.attention_temperature = bool(attention_temperature)

    def positions(self, layout: TokenLayout, spec: RopeSpec) -> Positions:
        pos, nxt, window, s = self._setup(layout, spec)
        inv, mscale = rope.yarn_inv_freq(
            spec.head_dim, spec.rope_theta, s, window, self.beta_fast, self.beta_slow
        )
        mscale = mscale if self.attention_temperature else 1.0
        if s <= 1.0 and self.factor is None:
            _warn_identity("yarn", f"{nxt:.0f} positions fit original_window {window}")
        info = _frequency_info(inv, spec, s)
        return _positions(
            pos, nxt, [(inv, mscale)], factor=s, original_window=window, mscale=mscale, **info
        )


@POSITIONS.register("entropy_abf", summary="adjusted base + attention-logit scaling (2401.07004)")
class EntropyABF(_WholeSequence):
    """Base ``rope_theta * base_factor`` and logits x ``max(1, log_{L0} n)`` for the prompt.

    The paper scales each query i by ``max(1, log_{L0}(i+1))`` and skips the first two layers;
    through RoPE alone (q and k share cos/sin) this scheme applies one factor per sequence, taken
    at the prompt length n, as ``sqrt(lambda)`` on cos/sin. ``base_factor`` 50 is the paper's
    LLaMA-2 setting (10,000 -> 500,000).
    """

    identity: ClassVar[dict[str, object]] = {"base_factor": 1.0, "logit_scaling": False}

    def __init__(
        self,
        base_factor: float = 50.0,
        original_window: int | None = None,
        logit_scaling: bool = True,
    ) -> None:
        super().__init__(None, original_window)
        if base_factor <= 0:
            raise ConfigError(f"base_factor must be positive, got {base_factor}")
        self.base_factor, self.logit_scaling = float(base_factor), bool(logit_scaling)

    def positions(self, layout: TokenLayout, spec: RopeSpec) -> Positions:
        pos, nxt, window, _ = self._setup(layout, spec)
        inv = rope.default_inv_freq(spec.head_dim, spec.rope_theta * self.base_factor)
        lam = 1.0
        if self.logit_scaling:
            lam = float(rope.entropy_abf_logit_scale(torch.tensor(nxt - 1), window))
        return _positions(
            pos,
            nxt,
            [(inv, math.sqrt(lam))],
            base_factor=self.base_factor,
            logit_scale=lam,
            original_window=window,
        )


def _visual_window(value: int | None, spec: RopeSpec) -> int:
    if value is not None:
        _check_window(value, "visual_window")
        return int(value)
    if spec.visual_window is not None:  # the adapter's default or the checkpoint's declaration
        return int(spec.visual_window)
    raise ConfigError(
        f"no default visual window for family {spec.family or '(unknown)'!r}; pass "
        "visual_window=<visual tokens of the longest training video>"
    )


@POSITIONS.register("vcwe", summary="visual context window extension (2409.20018)")
class VCWE:
    """YaRN driven by the visual context window: ``s = L_v / visual_window``.

    ``L_v`` is ``target_visual_tokens`` or, when None, the visual tokens of the sequence.
    Two readings of arXiv 2409.20018 (its method section could not be verified here; only the
    abstract and summaries were read): ``apply_to="visual"`` (default; the project's spec and the
    method's name, a *visual* window distinct from the language one) rotates visual tokens with
    the extended frequencies and text with the original ones; ``apply_to="all"`` applies the one
    extended RoPE to the whole sequence. Neither is "the paper's". The ramp's original length is
    ``visual_window`` (YaRN's ``r_j = L_v(train) / lambda_j``).
    """

    identity: ClassVar[dict[str, object]] = {"visual_window": 2**31 - 1}
    requires_mrope: ClassVar[bool] = False

    def __init__(
        self,
        visual_window: int | None = None,
        target_visual_tokens: int | None = None,
        apply_to: str = "visual",
        attention_temperature: bool = True,
        beta_fast: float = 32.0,
        beta_slow: float = 1.0,
    ) -> None:
        if apply_to not in ("all", "visual"):
            raise ConfigError(f"vcwe apply_to must be 'all' or 'visual', got {apply_to!r}")
        _check_window(visual_window, "visual_window")
        _check_window(target_visual_tokens, "target_visual_tokens")
        self.visual_window, self.target = visual_window, target_visual_tokens
        self.apply_to, self.attention_temperature = apply_to, bool(attention_temperature)
        self.beta_fast, self.beta_slow = float(beta_fast), float(beta_slow)

    def positions(self, layout: TokenLayout, spec: RopeSpec) -> Positions:
        pos, nxt = base_position_ids(layout, spec.is_mrope)
        window = _visual_window(self.visual_window, spec)
        needed = self.target if self.target is not None else layout.n_visual
        s = max(1.0, needed / window)
        info: dict[str, object] = {"factor": s, "visual_window": window, "apply_to": self.apply_to}
        if s <= 1.0:
            if self.visual_window is None:
                _warn_identity("vcwe", f"{needed} visual tokens fit the visual window {window}")
            info.update(_frequency_info(_default_tables(spec)[0][0], spec, s))
            return _positions(pos, nxt, _default_tables(spec), **info)
        inv, mscale = rope.yarn_inv_freq(
            spec.head_dim, spec.rope_theta, s, window, self.beta_fast, self.beta_slow
        )
        extended = (inv, mscale if self.attention_temperature else 1.0)
        info.update(_frequency_info(inv, spec, s), mscale=extended[1])
        if self.apply_to == "all":
            return _positions(pos, nxt, [extended], **info)
        group = (layout.token_type != 0).to(torch.int64)  # (n,) 1 = visual
        return _positions(pos, nxt, [*_default_tables(spec), extended], group, **info)


@POSITIONS.register(
    "v2pe", summary="variable visual position step: text +1, visual +delta (2412.09616)"
)
class V2PE:
    """Visual tokens advance by ``delta``; text resumes at the next integer after a run.

    ``delta`` None picks the largest of 1, 1/2, ..., 1/256 that fits, as V2PE/InternVL3 (arXiv
    2412.09616, 2504.10479 §2.1) suggest for inference. What must fit: with ``target_window``
    given, all the sequence's ids; otherwise the positions the *visual* tokens take (ids minus
    one per text token) must fit the model's trained visual window (``RopeSpec.visual_window``:
    the adapter's, from its cited source, or the checkpoint's ``vlmctx.json``); a model with no
    declared visual window fits all ids into its language window. Text is left out of the visual
    comparison because the window counts visual tokens: a prompt's text must not shrink delta
    (on the toy lab's 16-token window it forced delta = 1/256 at the trained length).
    """

    identity: ClassVar[dict[str, object]] = {"delta": 1.0}
    requires_mrope: ClassVar[bool] = False

    def __init__(self, delta: float | None = None, target_window: int | None = None) -> None:
        if delta is not None and not 0 < delta <= 1:
            raise ConfigError(f"v2pe delta must be in (0, 1], got {delta}")
        _check_window(target_window, "target_window")
        self.delta, self.target_window = delta, target_window

    def _window(self, layout: TokenLayout, spec: RopeSpec) -> tuple[int, int]:
        """(window, ids not counted against it): the visual window leaves the text out."""
        if self.target_window is None and spec.visual_window is not None:
            return int(spec.visual_window), layout.n_text
        return int(self.target_window or spec.window), 0

    def _choose(self, layout: TokenLayout, spec: RopeSpec, window: int, text: int):
        if self.delta is not None:
            return float(self.delta), *base_position_ids(layout, spec.is_mrope, self.delta)
        for delta in V2PE_DELTAS:
            pos, nxt = base_position_ids(layout, spec.is_mrope, delta)
            if nxt - text <= window:
                return delta, pos, nxt
        log.warning("v2pe: even delta=1/256 needs %d positions > window %d", nxt - text, window)
        return delta, pos, nxt

    def positions(self, layout: TokenLayout, spec: RopeSpec) -> Positions:
        window, text = self._window(layout, spec)
        delta, pos, nxt = self._choose(layout, spec, window, text)
        what = "visual positions" if text else "positions"
        if delta == 1.0 and self.delta is None:
            _warn_identity("v2pe", f"{nxt - text:.0f} {what} fit target_window {window} at delta 1")
        return _positions(
            pos,
            nxt,
            _default_tables(spec),
            delta=delta,
            target_window=window,
            positions=nxt,
            counted=what,
        )


@POSITIONS.register("mrope_pp", summary="M-RoPE++: keep t, ramp h, interpolate w (2412.12735)")
class MRopePP:
    """Per-axis frequency scaling for M-RoPE (GIRAFFE arXiv 2412.12735, Eq. 6).

    ``factor`` None = GIRAFFE's ``s = L' / L_V``: the extended visual length over the original
    *visual* context length ``L_V`` = ``original_window``, default the model's trained visual
    window (``RopeSpec.visual_window``: 16384 for Qwen2-VL, GIRAFFE's L_V). ``L'`` counts the
    sequence's visual tokens (the quantity L_V measures; a prompt's text must not raise s: on
    the toy lab's 16-token window it gave s = 4 at the trained length); a model with no declared
    visual window compares all tokens with its language window. Tokens, not M-RoPE position ids:
    ids grow far slower than tokens, and a factor from them is below 1 on any real video.
    """

    identity: ClassVar[dict[str, object]] = {"factor": 1.0}
    requires_mrope: ClassVar[bool] = True

    def __init__(self, factor: float | None = None, original_window: int | None = None) -> None:
        _check_window(original_window, "original_window")
        if factor is not None and factor <= 0:
            raise ConfigError(f"factor must be positive, got {factor}")
        self.factor, self.original_window = factor, original_window

    def positions(self, layout: TokenLayout, spec: RopeSpec) -> Positions:
        if not spec.is_mrope:
            raise UnsupportedModelError(
                f"mrope_pp needs a model with M-RoPE (Qwen2-VL, Qwen2.5-VL); family "
                f"{spec.family or '(unknown)'} uses 1-D RoPE: use vcwe, v2pe, yarn or ntk instead"
            )
        pos, nxt = base_position_ids(layout, True)
        visual = self.original_window is not None or spec.visual_window is not None
        window = self.original_window or spec.visual_window or spec.window
        tokens = layout.n_visual if visual else layout.n
        s = _auto_factor(self.factor, tokens, window)
        inv = rope.default_inv_freq(spec.head_dim, spec.rope_theta)
        if s > 1.0:
            inv = inv * rope.mrope_pp_gamma(inv, spec.mrope_section, s, spec.mrope_interleaved)  # type: ignore[arg-type]
        if s <= 1.0 and self.factor is None:
            _warn_identity("mrope_pp", f"{tokens} tokens fit the window L_V = {window}")
        info = _frequency_info(inv, spec, s)
        return _positions(
            pos, nxt, [(inv, 1.0)], factor=s, original_window=window, tokens=tokens, **info
        )


def compute_positions(
    name: str, layout: TokenLayout, spec: RopeSpec, **params: object
) -> Positions:
    """Convenience: ``POSITIONS.create(name, **params).positions(layout, spec)``."""
    return POSITIONS.create(name, **params).positions(layout, spec)


def identity_params(name: str) -> dict[str, object]:
    """The parameters under which scheme ``name`` must reproduce the unpatched model."""
    return dict(POSITIONS.get(name).identity)  # type: ignore[attr-defined]
