"""FAR: Frame AutoRegressive video transformer with long short-term context (arXiv 2503.19325).

A DiT over frame patches. Attention is full inside a frame and causal across frames; every frame
carries its own flow-matching time ``sigma`` in [0, 1] (Diffusion-Forcing style) and a state flag:

* ``NOISY`` (0): a frame being denoised at ``sigma``;
* ``CLEAN`` (1): a clean short-term context frame (the paper's timestep -1; we use a learned flag
  embedding instead of -1 on the 1000-step scale, which would sit next to t=1);
* ``LONG`` (2): a clean long-term context frame (the paper's -2), patchified coarser
  (``ctx_kernel`` x ``ctx_kernel`` tokens merged into one) and projected by separate MM-DiT-style
  Q/K/V/out weights, while AdaLN modulation and the MLP are shared; one joint attention covers
  both streams.

Blocks follow the paper: AdaLN-Zero (per-frame shift/scale/gate), attention with per-head QK
RMSNorm and 3-D RoPE, GELU-tanh MLP, AdaLN-continuous output head, zero-initialised outputs.
The forward pass can read a :class:`~vlmctx.far.cache.KVCache` of earlier clean tokens
and return the un-rotated keys/values of its own tokens so the rollout can cache them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from vlmctx.far.cache import KVCache
from vlmctx.far.config import FARConfig
from vlmctx.far.rope import FlexRoPE, apply_rope, frame_attention_bias, rope_angles

NOISY, CLEAN, LONG = 0, 1, 2


@dataclass
class Segment:
    """Tokens of consecutive frames of one stream.

    ``tokens`` [b, t, n, d_in] patch tokens; ``frames`` [t] frame ids (absolute positions);
    ``sigma`` [b, t] noise level (0 for clean); ``state`` [b, t] NOISY/CLEAN/LONG flags.
    """

    tokens: torch.Tensor
    frames: torch.Tensor
    sigma: torch.Tensor
    state: torch.Tensor


def timestep_features(sigma: torch.Tensor, dim: int = 256) -> torch.Tensor:
    """Sinusoidal features of ``1000 * sigma`` [...] -> [..., dim] (DiT/diffusers convention)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=sigma.device) / half)
    args = 1000.0 * sigma.float()[..., None] * freqs  # [..., half]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale) + shift


class Block(nn.Module):
    """One FAR block: shared AdaLN-Zero + MLP, per-stream QKV/out, one joint attention."""

    def __init__(self, cfg: FARConfig) -> None:
        super().__init__()
        d, self.heads = cfg.dim, cfg.heads
        self.norm1 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.norm2 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.ada = nn.Linear(d, 6 * d)
        self.qkv, self.out = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.ctx_qkv, self.ctx_out = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.q_norm, self.k_norm = (
            nn.RMSNorm(cfg.head_dim, eps=1e-6),
            nn.RMSNorm(cfg.head_dim, eps=1e-6),
        )
        self.ctx_q_norm = nn.RMSNorm(cfg.head_dim, eps=1e-6)
        self.ctx_k_norm = nn.RMSNorm(cfg.head_dim, eps=1e-6)
        hidden = int(cfg.mlp_ratio * d)
        self.mlp = nn.Sequential(
            nn.Linear(d, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, d)
        )

    def _qkv(self, h: torch.Tensor, ctx: bool) -> tuple[torch.Tensor, ...]:
        b, n, d = h.shape
        proj = self.ctx_qkv if ctx else self.qkv
        q, k, v = proj(h).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        # q, k, v: [b, heads, n, hd]
        qn, kn = (self.ctx_q_norm, self.ctx_k_norm) if ctx else (self.q_norm, self.k_norm)
        return qn(q), kn(k), v

    def forward(self, h, mod, n_ctx, angles, mask, past_k_rot, past_v):
        """``h`` [b, n, d] with the first ``n_ctx`` tokens long-term; ``mod`` [b, n, 6d].

        ``angles`` [n, hd/2] rotate this call's tokens; ``past_k_rot`` are cached keys already
        rotated. Returns the new hidden states and this layer's un-rotated (k, v).
        """
        sh1, sc1, g1, sh2, sc2, g2 = mod.chunk(6, dim=-1)
        x = modulate(self.norm1(h), sh1, sc1)
        qc, kc, vc = self._qkv(x[:, :n_ctx], ctx=True)
        qm, km, vm = self._qkv(x[:, n_ctx:], ctx=False)
        q, k, v = torch.cat([qc, qm], 2), torch.cat([kc, km], 2), torch.cat([vc, vm], 2)
        k_rot = apply_rope(k, angles)
        if past_k_rot is not None:
            k_rot = torch.cat([past_k_rot, k_rot], dim=2)  # [b, heads, nk, hd]
            v_all = torch.cat([past_v, v], dim=2)
        else:
            v_all = v
        a = F.scaled_dot_product_attention(apply_rope(q, angles), k_rot, v_all, attn_mask=mask)
        a = a.transpose(1, 2).flatten(2)  # [b, n, d]
        a = torch.cat([self.ctx_out(a[:, :n_ctx]), self.out(a[:, n_ctx:])], dim=1)
        h = h + g1 * a
        h = h + g2 * self.mlp(modulate(self.norm2(h), sh2, sc2))
        return h, k, v


class FARModel(nn.Module):
    """The FAR transformer; see the module docstring. Build with a :class:`FARConfig`."""

    def __init__(self, cfg: FARConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d, kk = cfg.dim, cfg.ctx_kernel**2
        self.x_embed = nn.Linear(cfg.token_dim, d)
        self.ctx_embed = nn.Linear(cfg.token_dim * kk, d)
        self.t_embed = nn.Sequential(nn.Linear(256, d), nn.SiLU(), nn.Linear(d, d))
        self.state_embed = nn.Embedding(3, d)
        self.label_embed = nn.Embedding(cfg.num_classes + 1, d) if cfg.num_classes else None
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.depth))
        self.final_norm = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.final_ada = nn.Linear(d, 2 * d)
        self.head = nn.Linear(d, cfg.token_dim)
        self._init_weights()
        gh, gw = cfg.grid
        k = cfg.ctx_kernel
        rows, cols = torch.meshgrid(torch.arange(gh), torch.arange(gw), indexing="ij")
        self.register_buffer(
            "grid_main", torch.stack([rows, cols], -1).flatten(0, 1).float(), persistent=False
        )
        rows, cols = torch.meshgrid(torch.arange(gh // k), torch.arange(gw // k), indexing="ij")
        centre = (k - 1) / 2  # a merged token sits at the centre of the tokens it covers
        grid_ctx = torch.stack([rows, cols], -1).flatten(0, 1).float() * k + centre
        self.register_buffer("grid_ctx", grid_ctx, persistent=False)

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        for blk in self.blocks:  # AdaLN-Zero: every block starts as the identity
            nn.init.zeros_(blk.ada.weight)
            nn.init.zeros_(blk.ada.bias)
        for m in (self.final_ada, self.head):
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)
        nn.init.normal_(self.state_embed.weight, std=0.02)
        if self.label_embed is not None:
            nn.init.normal_(self.label_embed.weight, std=0.02)

    def _frame_emb(self, seg: Segment, y: torch.Tensor | None) -> torch.Tensor:
        """Per-frame conditioning [b, t, d]: time + state flag (+ class label)."""
        e = self.t_embed(timestep_features(seg.sigma)) + self.state_embed(seg.state)
        if self.label_embed is not None:
            if y is None:
                y = torch.full(seg.sigma.shape[:1], self.cfg.num_classes, device=e.device)
            e = e + self.label_embed(y)[:, None]
        return e

    def _positions(self, seg: Segment, grid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-token (frame, row, col) [t*n, 3] and frame ids [t*n] of a segment."""
        t, n = seg.frames.numel(), grid.shape[0]
        f = seg.frames.to(grid.device).repeat_interleave(n)  # [t*n]
        pos = torch.cat([f[:, None].float(), grid.repeat(t, 1)], dim=1)  # [t*n, 3]
        return pos, f

    def _inputs(self, main: Segment, ctx: Segment | None, y: torch.Tensor | None):
        """Embed both streams -> hidden [b, n, d], per-token AdaLN input, positions, frame ids."""
        hs, embs, poss, fids = [], [], [], []
        for seg, embed, grid in (
            (ctx, self.ctx_embed, self.grid_ctx),
            (main, self.x_embed, self.grid_main),
        ):
            if seg is None:
                continue
            b, t, n, _ = seg.tokens.shape
            hs.append(embed(seg.tokens).flatten(1, 2))  # [b, t*n, d]
            embs.append((self._frame_emb(seg, y), n))  # per-frame [b, t, d], tokens per frame
            pos, f = self._positions(seg, grid)
            poss.append(pos)
            fids.append(f)
        return torch.cat(hs, 1), embs, torch.cat(poss), torch.cat(fids)

    @staticmethod
    def _per_token(layer: nn.Module, embs: list) -> torch.Tensor:
        """Apply ``layer`` to per-frame embeddings, then broadcast to tokens -> [b, n, d']."""
        return torch.cat([layer(F.silu(e)).repeat_interleave(n, dim=1) for e, n in embs], dim=1)

    def _angles(self, pos: torch.Tensor, flex: FlexRoPE) -> torch.Tensor:
        scale = torch.tensor([flex.interp, 1.0, 1.0], device=pos.device)
        return rope_angles(pos * scale, self.cfg.rope_axes, self.cfg.rope_theta)

    def rotate_cache(self, cache: KVCache, flex: FlexRoPE | None = None) -> KVCache:
        """The cache with its keys rotated for ``flex`` (reused while positions stay fixed)."""
        flex = flex or FlexRoPE()
        if cache.rotated is not None and cache.rotated_interp == flex.interp:
            return cache
        angles = self._angles(cache.pos, flex)
        rotated = [apply_rope(k, angles) for k in cache.keys]
        return KVCache(cache.keys, cache.values, cache.pos, cache.frames, rotated, flex.interp)

    def forward(
        self,
        main: Segment,
        ctx: Segment | None = None,
        y: torch.Tensor | None = None,
        past: KVCache | None = None,
        flex: FlexRoPE | None = None,
        return_kv: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, KVCache]:
        """Velocity for the ``main`` tokens [b, t, n, d_in]; optionally the new tokens' KV cache.

        ``ctx`` holds long-term (compressed) frames, all earlier than ``main``; ``past`` holds
        cached clean tokens of earlier frames. Token order everywhere is [past; ctx; main].
        """
        flex = flex or FlexRoPE()
        h, emb, pos, fids = self._inputs(main, ctx, y)
        n_ctx = 0 if ctx is None else ctx.tokens.shape[1] * ctx.tokens.shape[2]
        angles = self._angles(pos, flex)
        fids_k = fids if past is None else torch.cat([past.frames, fids])
        mask = frame_attention_bias(fids, fids_k, flex.slope, dtype=h.dtype)  # [n, nk]
        past_rot = None
        if past is not None:
            past_rot = self.rotate_cache(past, flex).rotated
        mod_all = [self._per_token(blk.ada, emb) for blk in self.blocks]
        keys, values = [], []
        for i, blk in enumerate(self.blocks):
            pk = None if past is None else past_rot[i]
            pv = None if past is None else past.values[i]
            h, k, v = blk(h, mod_all[i], n_ctx, angles, mask, pk, pv)
            keys.append(k)
            values.append(v)
        hm = h[:, n_ctx:]
        shift, sc = self._per_token(self.final_ada, emb[-1:]).chunk(2, dim=-1)
        out = self.head(modulate(self.final_norm(hm), shift, sc))  # [b, t*n, d_in]
        out = out.view(main.tokens.shape)  # [b, t, n, d_in]
        if return_kv:
            return out, KVCache(keys, values, pos, fids)
        return out
