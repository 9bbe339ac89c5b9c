"""Per-frame PSNR and SSIM (Wang et al. 2004) for videos in [-1, 1], computed in torch."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def psnr(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """PSNR in dB per frame for [..., c, H, W] tensors in [-1, 1] (data range 1 after rescale)."""
    a, b = (pred.clamp(-1, 1) + 1) / 2, (target + 1) / 2
    mse = ((a - b) ** 2).mean(dim=(-3, -2, -1)).clamp(min=1e-10)
    return 10 * torch.log10(1.0 / mse)


def _gauss(size: int, sigma: float) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return g[:, None] * g[None, :]  # [size, size]


def ssim(pred: torch.Tensor, target: torch.Tensor, window: int = 7, sigma: float = 1.5):
    """Mean SSIM per frame for [..., c, H, W] in [-1, 1]; Gaussian window, 'valid' borders.

    A 7-pixel window (instead of the usual 11) because our frames are 16x16.
    """
    lead = pred.shape[:-3]
    c, h, w = pred.shape[-3:]
    a = ((pred.clamp(-1, 1) + 1) / 2).reshape(-1, c, h, w)  # [n, c, H, W]
    b = ((target + 1) / 2).reshape(-1, c, h, w)
    k = _gauss(window, sigma).to(a)[None, None].repeat(c, 1, 1, 1)  # [c, 1, k, k]

    def filt(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, k, groups=c)

    c1, c2 = 0.01**2, 0.03**2
    mu_a, mu_b = filt(a), filt(b)
    var_a = filt(a * a) - mu_a**2
    var_b = filt(b * b) - mu_b**2
    cov = filt(a * b) - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    return (num / den).mean(dim=(1, 2, 3)).reshape(lead)
