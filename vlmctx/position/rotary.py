"""A generic rotary module that carries a position scheme's frequency tables into a model.

``SchemeRotaryEmbedding`` has the forward contract of transformers 5.24's
``Qwen2RotaryEmbedding`` (1-D), ``Qwen2VLRotaryEmbedding`` (chunked M-RoPE) and
``Qwen3VLTextRotaryEmbedding`` / ``Qwen3_5TextRotaryEmbedding`` (interleaved M-RoPE, arXiv
2511.21631; for Qwen3.5 ``head_dim`` is the rotated width of its partial rotary): ``forward(x,
position_ids) -> (cos, sin)`` of shape (b, n, head_dim) in ``x.dtype``, with ``position_ids``
(b, n), or (3, b, n) for M-RoPE. Angles are formed in float32 from float32 ids, so fractional
ids (V2PE) are neither rounded nor truncated. An adapter replaces
``model.model.language_model.rotary_emb`` (Qwen-VL) or the LM's ``rotary_emb`` with it; with the
default tables it returns bit-identical cos/sin to the module it replaces.

Per-token frequencies (VCWE's visual-only reading) are carried as a group id per token, set for
the prompt with :meth:`set_positions`. Which groups a call uses is read off the call's length ``L``
against the prompt length ``n0``: ``L == n0`` is the prefill; ``L > n0`` a full recompute of
prompt + generated tokens (prompt groups, then the text group); ``L < n0`` a cached decode step
(text group). Chunked prefill of multi-group positions is not supported (one call must hold the
prompt). Whole-sequence schemes have a single group and skip all of this.
"""

from __future__ import annotations

import torch
from torch import nn

from vlmctx.position import rope
from vlmctx.position.types import BatchedPositions, Positions, RopeSpec

__all__ = ["SchemeRotaryEmbedding"]


class SchemeRotaryEmbedding(nn.Module):
    """Rotary embedding driven by (G, d/2) frequency tables and per-token group ids."""

    def __init__(
        self,
        head_dim: int,
        rope_theta: float,
        mrope_section: tuple[int, ...] | list[int] | None = None,
        mrope_interleaved: bool = False,
    ) -> None:
        super().__init__()
        self.head_dim = head_dim
        self.mrope_section = list(mrope_section) if mrope_section is not None else None
        self.mrope_interleaved = mrope_interleaved
        inv = rope.default_inv_freq(head_dim, rope_theta)
        self.register_buffer("inv_freq_table", inv[None].clone(), persistent=False)  # (G, d/2)
        self.register_buffer("scaling_table", torch.ones(1), persistent=False)  # (G,)
        self.token_group: torch.Tensor | None = None  # (b, n0) prompt groups
        self.text_group: torch.Tensor | None = None  # (b,) group of generated tokens

    def _apply(self, fn, recurse: bool = True):
        """Follow device moves but keep the tables float32 under ``model.to(bf16)``.

        transformers' own rotary loses precision there (its ``inv_freq`` buffer becomes bf16),
        while ``from_pretrained(dtype=bf16)`` keeps it float32; we always keep float32.
        """
        tables = (self.inv_freq_table, self.scaling_table)
        super()._apply(fn, recurse)
        device = self.inv_freq_table.device
        self.inv_freq_table = tables[0].to(device=device, dtype=torch.float32)
        self.scaling_table = tables[1].to(device=device, dtype=torch.float32)
        return self

    @classmethod
    def from_spec(cls, spec: RopeSpec) -> SchemeRotaryEmbedding:
        return cls(spec.head_dim, spec.rope_theta, spec.mrope_section, spec.mrope_interleaved)

    # transformers-compatible read-only views of the text group's table
    @property
    def inv_freq(self) -> torch.Tensor:
        return self.inv_freq_table[0]

    @property
    def attention_scaling(self) -> float:
        return float(self.scaling_table[0])

    def set_positions(self, positions: Positions | BatchedPositions) -> None:
        """Load the tables of ``positions`` (and per-token groups for the next prefill)."""
        device = self.inv_freq_table.device
        inv = positions.inv_freq.to(device=device, dtype=torch.float32)
        if inv.shape[-1] != self.head_dim // 2:
            raise ValueError(
                f"positions have {inv.shape[-1]} frequencies, head needs {self.head_dim // 2}"
            )
        self.inv_freq_table = inv
        self.scaling_table = positions.attention_scaling.to(device=device, dtype=torch.float32)
        group = positions.token_group
        if isinstance(positions, Positions):
            self.token_group = group[None] if group is not None else None  # (1, n0)
            self.text_group = torch.zeros(1, dtype=torch.int64)
        else:
            self.token_group, self.text_group = group, positions.text_group

    def reset(self, spec: RopeSpec | None = None) -> None:
        """Back to a single default table (``spec`` gives its base; else keep table row 0)."""
        inv = (
            rope.default_inv_freq(spec.head_dim, spec.rope_theta)
            if spec is not None
            else self.inv_freq_table[0].cpu()
        )
        self.inv_freq_table = inv[None].to(self.inv_freq_table.device)
        self.scaling_table = torch.ones(1, device=self.inv_freq_table.device)
        self.token_group = self.text_group = None

    def _groups(self, b: int, length: int, device: torch.device) -> torch.Tensor:
        """(b, length) group ids for this call (see the module docstring)."""
        text = self.text_group if self.text_group is not None else torch.zeros(1).long()
        text = text.to(device)
        prompt = self.token_group.to(device) if self.token_group is not None else None
        if text.shape[0] != b:  # e.g. beams: each row repeated b / rows times
            reps = b // text.shape[0]
            text = text.repeat_interleave(reps)
            prompt = prompt.repeat_interleave(reps, dim=0) if prompt is not None else None
        gen = text[:, None].expand(b, length)
        if prompt is None or length < prompt.shape[1]:
            return gen
        return torch.cat([prompt, gen[:, prompt.shape[1] :]], dim=1)  # (b, length)

    @torch.no_grad()
    def forward(self, x: torch.Tensor, position_ids: torch.Tensor):
        if self.inv_freq_table.shape[0] == 1:
            return rope.rope_cos_sin(
                position_ids,
                self.inv_freq_table[0],
                self.attention_scaling,
                self.mrope_section,
                x.dtype,
                self.mrope_interleaved,
            )
        b, length = position_ids.shape[-2:]
        groups = self._groups(b, length, position_ids.device)  # (b, L)
        inv = self.inv_freq_table[groups]  # (b, L, d/2)
        scale = self.scaling_table[groups]  # (b, L)
        return rope.rope_cos_sin(
            position_ids, inv, scale, self.mrope_section, x.dtype, self.mrope_interleaved
        )
