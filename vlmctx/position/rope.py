"""RoPE math: inverse frequencies, context-extension rules and fp32 cos/sin for (fractional) ids.

Pure tensor code, no model imports. Every ``*_inv_freq`` function returns a float32 tensor of
shape (d/2,) for a head of ``head_dim = d`` channels (rotated in the half-split layout that
transformers uses); the functions that change the attention temperature also return the factor
applied to cos and sin (so attention *logits* are multiplied by its square, as in transformers).

Rules implemented (arXiv ids are the papers the formulas come from):

- default RoPE, Su et al. arXiv 2104.09864: ``inv_freq_j = base^(-2j/d)``.
- linear / position interpolation (PI), Chen et al. arXiv 2306.15595: ``inv_freq / s``.
- NTK-aware base change (bloc97, 2023; the form used in YaRN arXiv 2309.00071 §3.1):
  ``base' = base * s^(d/(d-2))``.
- dynamic NTK (transformers' ``dynamic``): NTK with ``s`` re-derived from the current length,
  ``base' = base * (s*L/L0 - (s-1))^(d/(d-2))``.
- YaRN, Peng et al. arXiv 2309.00071 Eq. 17-23: per-frequency ramp between interpolation (1/s)
  and extrapolation (1) on ``r_j = L0 / lambda_j`` with ``beta_fast``/``beta_slow``, and the
  attention temperature ``sqrt(1/t) = 0.1 ln s + 1`` applied to cos/sin.
- Entropy-aware ABF, Zhang et al. arXiv 2401.07004: a larger base (ABF) and attention logits
  scaled by ``lambda_i = max(1, log_{L0}(i + 1))`` for the query at 0-based position ``i``
  (GAIR-NLP/Entropy-ABF ``patch/EABF.py`` scales the query only).
- M-RoPE++ per-axis ramp, GIRAFFE arXiv 2412.12735 Eq. 6 (see :func:`mrope_pp_gamma`).

Angles are always formed in float32 from float32 position ids (bf16 cannot even represent
integer positions above 256 exactly and loses long-range RoPE, AnchorAttention arXiv
2411.13476); only the final cos/sin are cast to the activation dtype, exactly as transformers
does. Fractional positions are used as they are, never rounded.
"""

from __future__ import annotations

import math

import torch

from vlmctx.errors import ConfigError

__all__ = [
    "default_inv_freq",
    "dynamic_ntk_inv_freq",
    "entropy_abf_logit_scale",
    "linear_inv_freq",
    "mrope_axis_of_frequency",
    "mrope_pp_gamma",
    "ntk_inv_freq",
    "rope_angles",
    "rope_cos_sin",
    "yarn_attention_factor",
    "yarn_inv_freq",
    "yarn_ramp",
]


def _check_dim(head_dim: int) -> None:
    if head_dim <= 2 or head_dim % 2:
        raise ConfigError(f"RoPE head_dim must be an even number > 2, got {head_dim}")


def default_inv_freq(head_dim: int, base: float) -> torch.Tensor:
    """``base^(-2j/d)`` for j in [0, d/2), float32, computed as transformers computes it."""
    _check_dim(head_dim)
    exponent = torch.arange(0, head_dim, 2, dtype=torch.int64).to(torch.float32) / head_dim
    return 1.0 / (base**exponent)


def linear_inv_freq(head_dim: int, base: float, factor: float) -> torch.Tensor:
    """Position interpolation: every frequency divided by ``factor`` (positions squeezed by s)."""
    inv_freq = default_inv_freq(head_dim, base)
    if factor == 1.0:
        return inv_freq
    inv_freq /= factor
    return inv_freq


def ntk_inv_freq(head_dim: int, base: float, factor: float) -> torch.Tensor:
    """Static NTK-aware scaling: a larger base ``base * factor^(d/(d-2))``, no temperature."""
    if factor <= 1.0:
        return default_inv_freq(head_dim, base)
    return default_inv_freq(head_dim, base * factor ** (head_dim / (head_dim - 2)))


def dynamic_ntk_inv_freq(
    head_dim: int, base: float, factor: float, seq_len: float, max_position_embeddings: int
) -> torch.Tensor:
    """Dynamic NTK (transformers' ``dynamic`` rope type) for a sequence of ``seq_len`` tokens.

    Below ``max_position_embeddings`` it is the default RoPE; above, the base grows with the
    length: ``base * (factor * L / L0 - (factor - 1))^(d/(d-2))``.
    """
    seq_len = max(float(seq_len), float(max_position_embeddings))
    if seq_len == max_position_embeddings:
        return default_inv_freq(head_dim, base)
    grown = factor * seq_len / max_position_embeddings - (factor - 1)
    return default_inv_freq(head_dim, base * grown ** (head_dim / (head_dim - 2)))


def yarn_attention_factor(factor: float, mscale: float = 1.0) -> float:
    """YaRN's cos/sin multiplier ``0.1 * mscale * ln(s) + 1`` (1 when s <= 1)."""
    if factor <= 1.0:
        return 1.0
    return 0.1 * mscale * math.log(factor) + 1.0


def _correction_dim(num_rotations: float, head_dim: int, base: float, length: float) -> float:
    """Frequency index whose wavelength fits ``num_rotations`` times into ``length`` tokens."""
    return (head_dim * math.log(length / (num_rotations * 2 * math.pi))) / (2 * math.log(base))


def yarn_ramp(
    head_dim: int,
    base: float,
    original_length: float,
    beta_fast: float = 32.0,
    beta_slow: float = 1.0,
    truncate: bool = True,
) -> torch.Tensor:
    """YaRN's extrapolation weight per frequency, (d/2,) float32 in [0, 1].

    1 where a frequency turns more than ``beta_fast`` times within ``original_length`` (kept,
    "extrapolated"), 0 where it turns less than ``beta_slow`` times (fully interpolated), a
    linear ramp in the frequency index in between (arXiv 2309.00071 Eq. 18-19).
    """
    low = _correction_dim(beta_fast, head_dim, base, original_length)
    high = _correction_dim(beta_slow, head_dim, base, original_length)
    if truncate:
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, head_dim - 1)
    if low == high:
        high += 0.001  # avoid a zero-width ramp
    ramp = (torch.arange(head_dim // 2, dtype=torch.float32) - low) / (high - low)
    return 1 - torch.clamp(ramp, 0, 1)


def yarn_inv_freq(
    head_dim: int,
    base: float,
    factor: float,
    original_length: float,
    beta_fast: float = 32.0,
    beta_slow: float = 1.0,
    truncate: bool = True,
) -> tuple[torch.Tensor, float]:
    """YaRN inverse frequencies and cos/sin factor; ``factor <= 1`` is exactly the default."""
    if factor <= 1.0:
        return default_inv_freq(head_dim, base), 1.0
    pos_freqs = base ** (torch.arange(0, head_dim, 2).to(torch.float32) / head_dim)
    extrapolation = 1.0 / pos_freqs
    interpolation = 1.0 / (factor * pos_freqs)
    keep = yarn_ramp(head_dim, base, original_length, beta_fast, beta_slow, truncate)
    inv_freq = interpolation * (1 - keep) + extrapolation * keep
    return inv_freq, yarn_attention_factor(factor)


def entropy_abf_logit_scale(positions: torch.Tensor, original_length: float) -> torch.Tensor:
    """Entropy-ABF's attention-logit multiplier ``max(1, log(i + 1) / log(L0))`` per position."""
    scale = torch.log(positions.to(torch.float32) + 1) / math.log(original_length)
    return torch.clamp(scale, min=1.0)


def mrope_axis_of_frequency(
    mrope_section: tuple[int, ...] | list[int], interleaved: bool = False
) -> torch.Tensor:
    """Axis (0 t, 1 h, 2 w) owning each of the d/2 frequencies.

    Chunked (Qwen2-VL, Qwen2.5-VL): the first ``t`` frequencies to t, the next ``h`` to h, the
    last ``w`` to w. Interleaved (Qwen3-VL, Qwen3.5; arXiv 2511.21631 §2.1, transformers'
    ``Qwen3VLTextRotaryEmbedding.recomposition_frequencies``): frequency ``j`` belongs to h if
    ``j % 3 == 1 and j < 3h``, to w if ``j % 3 == 2 and j < 3w``, else to t, so every axis spans
    high to low frequencies and t also owns the tail (j >= 3 max(h, w)).
    """
    if not interleaved:
        return torch.cat(
            [torch.full((n,), i % 3, dtype=torch.int64) for i, n in enumerate(mrope_section)]
        )
    _, h, w = (int(x) for x in mrope_section)
    axis = torch.zeros(sum(int(x) for x in mrope_section), dtype=torch.int64)
    axis[1 : 3 * h : 3] = 1
    axis[2 : 3 * w : 3] = 2
    return axis


def mrope_pp_gamma(
    inv_freq: torch.Tensor,
    mrope_section: tuple[int, ...] | list[int],
    factor: float,
    interleaved: bool = False,
):
    """M-RoPE++ per-frequency multiplier gamma (GIRAFFE arXiv 2412.12735, Eq. 6).

    Each frequency is treated by the axis that owns it (:func:`mrope_axis_of_frequency`):
    temporal frequencies are kept (gamma 1, extrapolation); width frequencies are fully
    interpolated (gamma 1/s); height frequencies ramp linearly in theta,
    ``gamma_j = 1/s + (1 - 1/s) * (theta_j - theta_b) / (theta_a - theta_b)``, where ``b`` is
    the lowest height frequency and ``a`` the frequency just above the highest height one. In
    the chunked layout (Qwen2-VL) ``a`` is the last temporal frequency (``2x``) and ``b`` the last
    height one (``5x``): exactly the paper's Eq. 6. In the interleaved layout (Qwen3-VL) ``a`` is
    frequency 0; this generalisation is vlmctx's (docs/positions.md, "M-RoPE++ on the
    interleaved layout"). Returns (d/2,) float32; ``factor <= 1`` gives all ones.
    """
    t, h, w = (int(x) for x in mrope_section)
    if t + h + w != inv_freq.shape[-1] or t < 1 or h < 1:
        raise ConfigError(
            f"mrope_section {list(mrope_section)} must have 3 positive parts summing to "
            f"head_dim/2 = {inv_freq.shape[-1]}"
        )
    gamma = torch.ones_like(inv_freq, dtype=torch.float32)
    if factor <= 1.0:
        return gamma
    inv = inv_freq.to(torch.float32)
    axis = mrope_axis_of_frequency(mrope_section, interleaved)
    height = torch.nonzero(axis == 1).flatten()
    a, b = inv[max(int(height[0]) - 1, 0)], inv[int(height[-1])]
    gamma[height] = 1 / factor + (1 - 1 / factor) * (inv[height] - b) / (a - b)
    gamma[axis == 2] = 1 / factor
    return gamma


def rope_angles(
    position_ids: torch.Tensor,
    inv_freq: torch.Tensor,
    mrope_section: tuple[int, ...] | list[int] | None = None,
    interleaved: bool = False,
) -> torch.Tensor:
    """Rotation angles in float32, (..., n, d/2).

    ``position_ids``: (b, n) for 1-D RoPE, or (3, b, n) for M-RoPE (rows t, h, w; a (b, n)
    input is broadcast to the three rows). ``inv_freq``: (d/2,) shared by every token, or
    (b, n, d/2) per token. With ``mrope_section`` each frequency takes its angle from the row of
    the axis that owns it (:func:`mrope_axis_of_frequency`): contiguous chunks as transformers'
    ``Qwen2VLRotaryEmbedding``, or ``interleaved`` as ``Qwen3VLTextRotaryEmbedding``
    (arXiv 2511.21631 §2.1).
    """
    pos = position_ids.to(torch.float32)
    inv = inv_freq.to(device=pos.device, dtype=torch.float32)
    if mrope_section is None:
        return pos[..., None] * inv  # (b, n, d/2)
    if pos.ndim == 2:
        pos = pos[None].expand(3, -1, -1)  # (b, n) -> (3, b, n)
    freqs = pos[..., None] * inv  # (3, b, n, d/2)
    if interleaved:
        axis = mrope_axis_of_frequency(mrope_section, True).to(freqs.device)  # (d/2,)
        return torch.gather(freqs, 0, axis.expand_as(freqs)[:1]).squeeze(0)  # (b, n, d/2)
    chunks = freqs.split(list(mrope_section), dim=-1)
    return torch.cat([c[i % 3] for i, c in enumerate(chunks)], dim=-1)  # (b, n, d/2)


def rope_cos_sin(
    position_ids: torch.Tensor,
    inv_freq: torch.Tensor,
    attention_scaling: float | torch.Tensor = 1.0,
    mrope_section: tuple[int, ...] | list[int] | None = None,
    dtype: torch.dtype = torch.float32,
    interleaved: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin, (b, n, d), of fp32 angles times ``attention_scaling``, cast to ``dtype``.

    ``attention_scaling`` is a float or a (b, n) tensor (per token). The output layout is the
    half-split one (``cat(freqs, freqs)``) that ``apply_rotary_pos_emb`` expects; ``d`` is the
    rotated width (``head_dim * partial_rotary_factor`` for Qwen3.5, whose attention rotates
    the first ``d`` channels and passes the rest through).
    """
    freqs = rope_angles(position_ids, inv_freq, mrope_section, interleaved)
    emb = torch.cat((freqs, freqs), dim=-1)  # (b, n, d)
    cos, sin = emb.cos(), emb.sin()
    if isinstance(attention_scaling, torch.Tensor):
        scale = attention_scaling.to(device=emb.device, dtype=torch.float32)[..., None]
        cos, sin = cos.mul_(scale), sin.mul_(scale)
    elif attention_scaling != 1.0:
        cos, sin = cos.mul_(attention_scaling), sin.mul_(attention_scaling)
    return cos.to(dtype), sin.to(dtype)
