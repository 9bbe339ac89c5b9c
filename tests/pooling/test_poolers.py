"""Poolers: token counts, coordinates in the unpooled grid, identity, and registry contract."""

from __future__ import annotations

import pytest
import torch

from vlmctx.errors import ConfigError
from vlmctx.pooling import POOLERS, pool_frames, pooled_token_count


@pytest.mark.parametrize("name", POOLERS.names())
def test_contract_every_pooler(name: str) -> None:
    pooler = POOLERS.create(name)
    emb = torch.randn(8, 6, 5, 4)
    layouts = pooler.per_frame(8, 6, 5)
    tokens, coords = pool_frames(emb, layouts)
    assert tokens.shape == (pooled_token_count(pooler, 8, 6, 5), 4)
    assert coords.shape == (tokens.shape[0], 3)
    assert torch.all(coords[1:, 0] >= coords[:-1, 0])  # temporal order kept
    assert coords[:, 1].min() >= 0 and coords[:, 1].max() <= 5
    assert coords[:, 2].min() >= 0 and coords[:, 2].max() <= 4
    # each frame's pooled tokens average to the frame mean when cells are equal-sized
    assert 0 < tokens.shape[0] <= 8 * 6 * 5


def test_none_is_identity() -> None:
    emb = torch.randn(3, 4, 4, 2)
    tokens, coords = pool_frames(emb, POOLERS.create("none").per_frame(3, 4, 4))
    assert torch.equal(tokens, emb.reshape(-1, 2))
    assert coords[5].tolist() == [0.0, 1.0, 1.0]


def test_uniform_2x2_by_hand() -> None:
    emb = torch.arange(16, dtype=torch.float32).reshape(1, 4, 4, 1)
    tokens, coords = pool_frames(emb, POOLERS.create("uniform", kernel=2).per_frame(1, 4, 4))
    assert tokens.flatten().tolist() == [2.5, 4.5, 10.5, 12.5]
    assert coords.tolist() == [[0, 0.5, 0.5], [0, 0.5, 2.5], [0, 2.5, 0.5], [0, 2.5, 2.5]]
    # odd sizes: ceil at the edges (3 -> 2 cells: [0, 2) and [2, 3))
    assert pooled_token_count(POOLERS.create("uniform", kernel=2), 1, 3, 3) == 4
    odd = torch.arange(9, dtype=torch.float32).reshape(1, 3, 3, 1)
    tokens, coords = pool_frames(odd, POOLERS.create("uniform", kernel=2).per_frame(1, 3, 3))
    assert tokens.flatten().tolist() == [2.0, 3.5, 6.5, 8.0]
    assert coords[:, 1].tolist() == [0.5, 0.5, 2.0, 2.0]


def test_progressive_and_hybrid_counts() -> None:
    prog = POOLERS.create("progressive", group=4, kernel=2)
    assert [p.tokens for p in prog.per_frame(8, 14, 14)] == [196, 49, 49, 49] * 2
    # 256 frames of 196 tokens: 64 full + 192 pooled -> 0.4375 of the unpooled count
    assert pooled_token_count(prog, 256, 14, 14) == 64 * 196 + 192 * 49
    hyb = POOLERS.create("hybrid", group=4, ratio=3)
    layouts = hyb.per_frame(4, 12, 20)  # m = 240 tokens, as in GIRAFFE
    assert layouts[0].tokens == 240 and all(abs(p.tokens - 80) <= 8 for p in layouts[1:])


def test_bad_parameters() -> None:
    with pytest.raises(ConfigError):
        POOLERS.create("uniform", kernel=0)
    with pytest.raises(ConfigError):
        POOLERS.create("progressive", group=4, full=4)
    with pytest.raises(ConfigError):
        POOLERS.create("hybrid", ratio=0.5)
    with pytest.raises(ConfigError, match="Did you mean"):
        POOLERS.create("progresive")
