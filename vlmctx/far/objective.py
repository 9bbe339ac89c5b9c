"""FAR training objective: per-frame flow matching with stochastic clean context (arXiv 2503.19325).

For a clip of ``n`` frames the first ``n - window`` frames form the long-term context (clean,
compressed, flag LONG) and the last ``window`` frames the short-term window. Each window frame
gets its own noise level ``sigma = sigmoid(N(0, 1))`` (logit-normal), ``x_t = sigma * eps +
(1 - sigma) * x0``, and the target velocity is ``eps - x0``. With probability ``p_clean`` a frame is
replaced by its clean version and flagged CLEAN ("stochastic clean context"); those frames are
excluded from the loss. This closes the train/test gap (inference always sees clean context) at
no extra cost (v3 Table 6). Class labels are dropped to the null class with ``class_dropout`` so
classifier-free guidance works at sampling time.
"""

from __future__ import annotations

import torch

from vlmctx.errors import ConfigError
from vlmctx.far.model import CLEAN, LONG, NOISY, FARModel, Segment
from vlmctx.far.patches import patchify


def flow_matching_loss(
    model: FARModel,
    clip: torch.Tensor,
    y: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Mean velocity MSE over the noisy window frames of ``clip`` [b, n, c, H, W], n >= window."""
    cfg = model.cfg
    b, n = clip.shape[:2]
    if n < cfg.window:
        raise ConfigError(f"training clips need >= window={cfg.window} frames, got {n}")
    dev = clip.device
    n_ctx = n - cfg.window
    x0 = patchify(clip[:, n_ctx:], cfg.patch)  # [b, w, n_tok, d_in]
    rand = dict(generator=generator, device=dev)
    sigma = torch.sigmoid(torch.randn(b, cfg.window, **rand))
    clean = torch.rand(b, cfg.window, **rand) < cfg.p_clean
    sigma = sigma.masked_fill(clean, 0.0)
    eps = torch.randn(x0.shape, **rand)
    s = sigma[:, :, None, None]
    xt = s * eps + (1 - s) * x0
    state = torch.where(clean, CLEAN, NOISY)
    main = Segment(xt, torch.arange(n_ctx, n, device=dev), sigma, state)
    ctx = None
    if n_ctx:
        ctx_tok = patchify(clip[:, :n_ctx], cfg.patch * cfg.ctx_kernel)
        zeros = torch.zeros(b, n_ctx, device=dev)
        ctx = Segment(
            ctx_tok,
            torch.arange(n_ctx, device=dev),
            zeros,
            torch.full((b, n_ctx), LONG, device=dev),
        )
    if y is not None and cfg.num_classes and model.training:
        drop = torch.rand(b, **rand) < cfg.class_dropout
        y = y.masked_fill(drop, cfg.num_classes)
    v = model(main, ctx=ctx, y=y)
    per_frame = ((v - (eps - x0)) ** 2).mean(dim=(2, 3))  # [b, w]
    keep = (~clean).float()
    return ((per_frame * keep).sum(1) / keep.sum(1).clamp(min=1)).mean()
