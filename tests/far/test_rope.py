"""RoPE and FlexRoPE: off equals plain RoPE, on equals the paper's linear frame-distance bias."""

import pytest
import torch

from vlmctx.errors import ConfigError
from vlmctx.far import FlexRoPE, RolloutConfig, rollout
from vlmctx.far.rope import apply_rope, frame_attention_bias, rope_angles


def test_bias_matches_loop_reference():
    fq = torch.tensor([0, 0, 1, 1, 3])
    fk = torch.tensor([0, 1, 2, 3, 3, 0])
    for slope in (0.0, 0.25):
        bias = frame_attention_bias(fq, fk, slope)
        for i in range(len(fq)):
            for j in range(len(fk)):
                d = int(fq[i] - fk[j])
                want = float("-inf") if d < 0 else -slope * d
                assert bias[i, j].item() == want


def test_flexrope_off_is_plain_frame_causal_mask():
    f = torch.arange(4).repeat_interleave(3)
    plain = torch.zeros(12, 12).masked_fill(f[:, None] < f[None, :], float("-inf"))
    assert torch.equal(frame_attention_bias(f, f, 0.0), plain)


def test_rope_is_relative_in_time():
    torch.manual_seed(0)
    q, k = torch.randn(1, 1, 1, 16), torch.randn(1, 1, 1, 16)
    axes = (4, 6, 6)

    def score(fq, fk):
        aq = rope_angles(torch.tensor([[fq, 1.0, 2.0]]), axes, 10000.0)
        ak = rope_angles(torch.tensor([[fk, 1.0, 2.0]]), axes, 10000.0)
        return (apply_rope(q, aq) * apply_rope(k, ak)).sum()

    assert torch.allclose(score(5, 2), score(105, 102), atol=1e-4)
    assert not torch.allclose(score(5, 2), score(5, 4), atol=1e-4)


def test_flexrope_zero_equals_plain_rope_rollout(tiny_model):
    ctx, noise = torch.randn(1, 3, 1, 16, 16), torch.randn(1, 4, 1, 16, 16)
    plain = rollout(tiny_model, ctx, 4, RolloutConfig(steps=2, layout="full"), noise=noise)
    off = rollout(
        tiny_model, ctx, 4, RolloutConfig(steps=2, layout="full", flex=FlexRoPE(0.0)), noise=noise
    )
    on = rollout(
        tiny_model, ctx, 4, RolloutConfig(steps=2, layout="full", flex=FlexRoPE(0.5)), noise=noise
    )
    assert torch.equal(plain, off)
    assert not torch.allclose(plain, on, atol=1e-3)


def test_flexrope_rejects_bad_values():
    with pytest.raises(ConfigError):
        FlexRoPE(slope=-1)
    with pytest.raises(ConfigError):
        FlexRoPE(interp=0)
