"""3-D rotary position embedding and FlexRoPE, the frame-causal attention bias of FAR.

RoPE (Flux style): a head's dimensions are split into temporal, row and column parts, each rotated
by its own coordinate. Keys are cached *un-rotated* and rotated at attention time, so positions
may be changed at sampling time without invalidating the KV cache.

FlexRoPE (arXiv 2503.19325 v1, showlab/FAR ``_build_causal_mask``): plain RoPE plus an ALiBi-like
linear penalty on the frame distance, added to the attention logits and shared by all heads::

    m_ij = -inf                if f_j > f_i      (frame-causal: full in a frame, causal across)
         = -slope * (f_i - f_j) otherwise

``slope`` is 0 in training and switched on only at sampling time; it has no weights. We also keep
RoPE *interpolation* (temporal positions scaled by ``interp``) as the comparison arm of the paper.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vlmctx.errors import ConfigError


@dataclass(frozen=True)
class FlexRoPE:
    """Sampling-time temporal position settings.

    ``slope``: linear decay per frame of distance (0 = plain RoPE, the training setting).
    ``interp``: multiply temporal RoPE positions by this (1 = raw positions, i.e. extrapolation;
    train_len / test_len = position interpolation, the baseline FlexRoPE is compared against).
    """

    slope: float = 0.0
    interp: float = 1.0

    def __post_init__(self) -> None:
        if self.slope < 0:
            raise ConfigError(f"FlexRoPE slope must be >= 0 (got {self.slope}); 0 turns it off")
        if self.interp <= 0:
            raise ConfigError(f"RoPE interp factor must be > 0 (got {self.interp})")


def rope_angles(pos: torch.Tensor, axes: tuple[int, ...], theta: float) -> torch.Tensor:
    """Rotation angles for positions ``pos`` [n, 3] (frame, row, col) -> [n, head_dim/2]."""
    parts = []
    for a, dims in enumerate(axes):
        inv_freq = theta ** (
            -torch.arange(0, dims, 2, dtype=torch.float64, device=pos.device) / dims
        )
        parts.append(pos[:, a, None].double() * inv_freq[None])  # [n, dims/2]
    return torch.cat(parts, dim=-1).float()


def apply_rope(x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """Rotate interleaved pairs of ``x`` [b, heads, n, hd] by ``angles`` [n, hd/2]."""
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    x1, x2 = x[..., 0::2], x[..., 1::2]  # [b, heads, n, hd/2] each
    out = torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)  # [b, heads, n, hd/2, 2]
    return out.flatten(-2)


def frame_attention_bias(
    q_frames: torch.Tensor, k_frames: torch.Tensor, slope: float = 0.0, dtype=torch.float32
) -> torch.Tensor:
    """Additive attention mask [nq, nk] from per-token frame ids: frame-causal + FlexRoPE decay.

    With ``slope == 0`` the allowed entries are exactly 0, i.e. the plain frame-causal mask.
    """
    dist = q_frames[:, None] - k_frames[None, :]  # [nq, nk]  f_i - f_j
    neg_inf = torch.tensor(float("-inf"), dtype=dtype, device=dist.device)
    if slope == 0:
        zero = torch.zeros((), dtype=dtype, device=dist.device)
        return torch.where(dist >= 0, zero, neg_inf)
    return torch.where(dist >= 0, -slope * dist.to(dtype), neg_inf)
