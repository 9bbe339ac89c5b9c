"""Which offloaded frame blocks a question brings back: a block-level query-key similarity.

ReKV (Di et al., arXiv 2503.00540, ICLR 2025) retrieves, per layer, the offloaded KV blocks whose
keys best match the question's queries. This module implements a cheaper, documented proxy:

- when a chunk is prefilled, each decoder layer's key projection output (``k_proj``, before the
  rotary embedding) is averaged over the block's tokens: one (kv_heads, d) summary per layer,
  ``layers * kv_heads * d`` floats per block kept in CPU memory whatever the block's size;
- when a question comes, it is run once over the device cache (sinks + recent window, the
  "probe"), and each layer's query projection (``q_proj``) is averaged over its tokens;
- a block's score in a layer is ``mean_q . mean_k / sqrt(d)`` averaged over heads (each query
  head against its key-value group): exactly the mean pre-rotary attention logit over all
  (question token, block token) pairs. Scores are standardised per layer across blocks (so no
  layer dominates) and summed over layers; the same blocks are retrieved in every layer, which
  keeps the cache one length across layers.

Leaving the rotary embedding out makes the score about content, not distance (with it, far
blocks would be penalised by RoPE's long-term decay, which is what retrieval is meant to undo).
Cost per question: one extra prefill of the question over the device cache, and a
(blocks x layers x heads x d) product, microseconds for thousands of blocks.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import torch

from vlmctx.errors import UnsupportedModelError


def decoder_layers(adapter: Any, model: Any) -> Any:
    """The language model's decoder layers, each with ``self_attn.q_proj`` / ``k_proj``."""
    lm = adapter.positions.language_model(model)
    layers = getattr(lm, "layers", None)
    if layers is None or not all(
        hasattr(getattr(layer, "self_attn", None), "q_proj") and hasattr(layer.self_attn, "k_proj")
        for layer in layers
    ):
        raise UnsupportedModelError(
            f"{adapter.family}: retrieval reads each decoder layer's self_attn.q_proj/k_proj, "
            "which this model does not have"
        )
    return layers


class ProjectionTap:
    """Forward hooks on every layer's ``q_proj`` or ``k_proj``: the mean over tokens of its
    output, (layers, heads, d) float32 on CPU. Counts only the installing thread's forwards;
    use as a context manager so the hooks never outlive the call."""

    def __init__(self, layers: Any, which: str, heads: int, head_dim: int) -> None:
        self.heads, self.head_dim = heads, head_dim
        self.means: list[torch.Tensor | None] = [None] * len(layers)
        self._thread = threading.get_ident()
        self._modules = [getattr(layer.self_attn, which) for layer in layers]
        self._handles: list[Any] = []

    def __enter__(self) -> ProjectionTap:
        for i, module in enumerate(self._modules):
            self._handles.append(module.register_forward_hook(self._hook(i)))
        return self

    def __exit__(self, *exc: Any) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def _hook(self, i: int) -> Any:
        def hook(_module: Any, _args: Any, out: torch.Tensor) -> None:
            if threading.get_ident() == self._thread:
                mean = out[0].float().mean(dim=0)  # (1, n, heads * d) -> (heads * d,)
                self.means[i] = mean.reshape(self.heads, self.head_dim).cpu()  # (heads, d)

        return hook

    def summary(self) -> torch.Tensor:
        """(layers, heads, d): the last forward's per-layer means."""
        if any(m is None for m in self.means):
            raise RuntimeError("a layer's projection was not run during the tapped forward")
        return torch.stack([m for m in self.means if m is not None])


def block_scores(query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """Scores (blocks,) of key summaries ``keys`` (blocks, layers, kv_heads, d) for a question's
    query summary ``query`` (layers, heads, d); higher means more relevant."""
    b, layers, kv_heads, d = keys.shape
    group = query.shape[1] // kv_heads
    q = query.reshape(layers, kv_heads, group, d).sum(dim=2)  # (layers, kv_heads, d)
    logits = torch.einsum("lkd,blkd->bl", q, keys) / (math.sqrt(d) * query.shape[1])  # (b, l)
    if b > 1:  # standardise per layer across blocks so that every layer counts alike
        logits = (logits - logits.mean(dim=0)) / (logits.std(dim=0) + 1e-6)
    return logits.sum(dim=1)


def select(scores: torch.Tensor, sizes: list[int], top_k: int, token_allowance: int) -> list[int]:
    """Indices of the best blocks, at most ``top_k`` of them and ``token_allowance`` tokens in
    all, returned in stream order."""
    chosen, used = [], 0
    for i in torch.argsort(scores, descending=True).tolist():
        if len(chosen) == top_k:
            break
        if used + sizes[i] <= token_allowance:
            chosen.append(i)
            used += sizes[i]
    return sorted(chosen)
