"""Configuration of a FAR video model (arXiv 2503.19325) and its size presets.

One frozen dataclass describes the frame geometry (pixels or latents, patch size), the
transformer size, the long short-term context (window length, compression kernel) and the
training recipe knobs that change the model's inputs (clean-context probability, classes).
Presets go from a CPU toy (``tiny``, ``cpu``) up to the paper's FAR-B/M/L/XL widths; the large
ones use the paper's 8x8x32 DC-AE latent geometry (the autoencoder itself is pluggable, not
shipped).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from vlmctx.errors import ConfigError


@dataclass(frozen=True)
class FARConfig:
    """Everything needed to rebuild a FAR model; round-trips through :meth:`to_dict`.

    Geometry: a frame is ``channels x height x width`` (pixels scaled to [-1, 1], or a latent);
    ``patch`` pixels per token side gives the short-term grid; ``ctx_kernel`` tokens per side are
    merged into one long-term token (the paper's coarser patchify of distant frames).
    """

    channels: int = 1
    height: int = 16
    width: int = 16
    patch: int = 4
    dim: int = 128
    depth: int = 4
    heads: int = 4
    rope_axes: tuple[int, int, int] = (8, 12, 12)  # temporal, height, width dims of a head
    rope_theta: float = 10000.0
    mlp_ratio: float = 4.0
    window: int = 8  # short-term frames kept at full token resolution
    ctx_kernel: int = 2  # long-term tokens merge ctx_kernel x ctx_kernel short-term tokens
    num_classes: int = 0  # 0: unconditional; else label embedding with a null class for CFG
    class_dropout: float = 0.1
    p_clean: float = 0.1  # stochastic clean context probability per frame (paper: 0.1)

    def __post_init__(self) -> None:
        if self.height % self.patch or self.width % self.patch:
            raise ConfigError(
                f"frame {self.height}x{self.width} is not divisible by patch {self.patch}; "
                "pick a patch size that divides both sides"
            )
        gh, gw = self.grid
        if gh % self.ctx_kernel or gw % self.ctx_kernel:
            raise ConfigError(
                f"token grid {gh}x{gw} is not divisible by ctx_kernel {self.ctx_kernel}; "
                "choose ctx_kernel dividing the grid"
            )
        if self.dim % self.heads:
            raise ConfigError(f"dim {self.dim} must be divisible by heads {self.heads}")
        if sum(self.rope_axes) != self.head_dim or any(a % 2 for a in self.rope_axes):
            raise ConfigError(
                f"rope_axes {self.rope_axes} must be even and sum to head_dim {self.head_dim}"
            )
        if self.window < 2:
            raise ConfigError("window must be >= 2 frames (one clean frame plus the new one)")
        if not 0.0 <= self.p_clean < 1.0:
            raise ConfigError("p_clean must be in [0, 1)")

    @property
    def head_dim(self) -> int:
        return self.dim // self.heads

    @property
    def grid(self) -> tuple[int, int]:
        """Short-term token grid (rows, cols) of one frame."""
        return self.height // self.patch, self.width // self.patch

    @property
    def tokens_per_frame(self) -> int:
        gh, gw = self.grid
        return gh * gw

    @property
    def ctx_tokens_per_frame(self) -> int:
        gh, gw = self.grid
        return (gh // self.ctx_kernel) * (gw // self.ctx_kernel)

    @property
    def token_dim(self) -> int:
        return self.channels * self.patch * self.patch

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["rope_axes"] = list(self.rope_axes)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> FARConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ConfigError(f"unknown FAR config keys {sorted(unknown)}; known: {sorted(known)}")
        d = dict(d)
        if "rope_axes" in d:
            d["rope_axes"] = tuple(d["rope_axes"])
        return cls(**d)

    def replace(self, **changes) -> FARConfig:
        return dataclasses.replace(self, **changes)


# Paper sizes (v3 Table / README): heads x 64 = width, 8x8x32 latents with patch 1.
_LATENT = dict(
    channels=32, height=8, width=8, patch=1, rope_axes=(16, 24, 24), window=16, ctx_kernel=4
)
PRESETS: dict[str, FARConfig] = {
    "tiny": FARConfig(dim=32, depth=2, heads=2, rope_axes=(4, 6, 6), window=4),
    "cpu": FARConfig(),
    "far-b": FARConfig(dim=768, depth=12, heads=12, **_LATENT),
    "far-m": FARConfig(dim=1024, depth=12, heads=16, **_LATENT),
    "far-l": FARConfig(dim=1024, depth=24, heads=16, **_LATENT),
    "far-xl": FARConfig(dim=1152, depth=28, heads=18, **_LATENT),
}


def preset(name: str, **overrides) -> FARConfig:
    """Return the named preset with ``overrides`` applied; unknown names raise ConfigError."""
    if name not in PRESETS:
        raise ConfigError(f"unknown FAR preset {name!r}; choose one of {sorted(PRESETS)}")
    return PRESETS[name].replace(**overrides) if overrides else PRESETS[name]
