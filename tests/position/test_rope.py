"""RoPE math against transformers' own rope-init functions and against plain float64 math."""

from __future__ import annotations

import math

import pytest
import torch
from transformers import Qwen2Config
from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

from vlmctx.position import rope

D, BASE = 64, 1_000_000.0


def hf(rope_type: str, max_pos: int = 4096, seq_len=None, **params):
    cfg = Qwen2Config(
        hidden_size=D * 2,
        num_attention_heads=2,
        max_position_embeddings=max_pos,
        rope_parameters={"rope_type": rope_type, "rope_theta": BASE, **params},
    )
    return ROPE_INIT_FUNCTIONS[rope_type](cfg, seq_len=seq_len)


def test_default_matches_transformers():
    from transformers.models.qwen2.modeling_qwen2 import Qwen2RotaryEmbedding

    cfg = Qwen2Config(
        hidden_size=D * 2, num_attention_heads=2, rope_parameters={"rope_theta": BASE}
    )
    ref, _ = Qwen2RotaryEmbedding.compute_default_rope_parameters(cfg)
    assert torch.equal(rope.default_inv_freq(D, BASE), ref)


@pytest.mark.parametrize("factor", [1.5, 2.0, 8.0])
def test_linear_matches_transformers(factor):
    ref, scale = hf("linear", factor=factor)
    assert torch.equal(rope.linear_inv_freq(D, BASE, factor), ref) and scale == 1.0


@pytest.mark.parametrize(
    "factor,orig,fast,slow", [(2.0, 1024, 32, 1), (4.0, 2048, 32, 1), (16.0, 512, 16, 2)]
)
def test_yarn_matches_transformers(factor, orig, fast, slow):
    ref, ref_scale = hf(
        "yarn",
        factor=factor,
        original_max_position_embeddings=orig,
        beta_fast=fast,
        beta_slow=slow,
    )
    inv, scale = rope.yarn_inv_freq(D, BASE, factor, orig, fast, slow)
    assert torch.equal(inv, ref)
    assert scale == ref_scale == pytest.approx(0.1 * math.log(factor) + 1)


@pytest.mark.parametrize("factor,seq_len", [(2.0, 4096), (2.0, 10000), (4.0, 30000), (1.0, 9000)])
def test_dynamic_ntk_matches_transformers(factor, seq_len):
    ref, _ = hf("dynamic", factor=factor, seq_len=seq_len)
    assert torch.equal(rope.dynamic_ntk_inv_freq(D, BASE, factor, seq_len, 4096), ref)


@pytest.mark.parametrize("factor", [2.0, 8.0])
def test_static_ntk_equals_dynamic_at_its_length(factor):
    # transformers' dynamic NTK with factor 1 at L = s * L0 is the static NTK-aware base change
    ref, _ = hf("dynamic", factor=1.0, seq_len=int(factor * 4096))
    torch.testing.assert_close(rope.ntk_inv_freq(D, BASE, factor), ref, rtol=1e-6, atol=0)
    base = BASE * factor ** (D / (D - 2))
    expect = torch.tensor([base ** (-2 * j / D) for j in range(D // 2)], dtype=torch.float64)
    torch.testing.assert_close(
        rope.ntk_inv_freq(D, BASE, factor).double(), expect, rtol=1e-6, atol=0
    )


def test_identity_factors_are_exactly_default():
    default = rope.default_inv_freq(D, BASE)
    assert torch.equal(rope.linear_inv_freq(D, BASE, 1.0), default)
    assert torch.equal(rope.ntk_inv_freq(D, BASE, 1.0), default)
    assert torch.equal(rope.yarn_inv_freq(D, BASE, 1.0, 1024)[0], default)
    assert torch.equal(rope.dynamic_ntk_inv_freq(D, BASE, 2.0, 100, 4096), default)


def test_mrope_pp_gamma_paper_values():
    # Qwen2-VL-7B: head_dim 128, base 1e6, mrope_section [16, 24, 24], s = 4 (notes §2.2)
    inv = rope.default_inv_freq(128, 1e6)
    g = rope.mrope_pp_gamma(inv, [16, 24, 24], 4.0)
    assert torch.equal(g[:16], torch.ones(16))
    assert g[16].item() == pytest.approx(0.854, abs=2e-3)
    assert g[20].item() == pytest.approx(0.50, abs=1e-2)
    assert g[39].item() == pytest.approx(0.25, abs=1e-6)
    assert torch.allclose(g[40:], torch.full((24,), 0.25))
    assert bool((g[16:40].diff() <= 0).all())  # monotone ramp from ~1 to 1/s
    assert torch.equal(rope.mrope_pp_gamma(inv, [16, 24, 24], 1.0), torch.ones(64))


def test_entropy_abf_logit_scale():
    pos = torch.tensor([0, 100, 4095, 8191, 16383])
    lam = rope.entropy_abf_logit_scale(pos, 4096)
    assert lam[:3].tolist() == [1.0, 1.0, 1.0]
    assert lam[3].item() == pytest.approx(math.log(8192) / math.log(4096), rel=1e-6)


def test_angles_fp32_with_bf16_and_fractional_ids_kept():
    inv = rope.default_inv_freq(D, 10_000.0)
    pos = torch.tensor([[30000.25, 30000.0, 10.5, 11.0]])  # (b, n)
    cos, sin = rope.rope_cos_sin(pos, inv, dtype=torch.bfloat16)
    assert cos.dtype == torch.bfloat16 and cos.shape == (1, 4, D)
    exact = torch.tensor(
        [[p * inv[j].item() for j in range(D // 2)] for p in pos[0].tolist()], dtype=torch.float64
    )
    ref_cos = torch.cat([exact.cos(), exact.cos()], -1).to(torch.bfloat16)
    # fp32 angles round like float64 ones up to fp32 ulp; compare in bf16 (what the model sees)
    assert (cos[0].float() - ref_cos.float()).abs().max() < 1e-2
    # 30000.25 is not rounded to 30000 (bf16 ids would be: bf16(30000.25) == 29952)
    assert not torch.equal(cos[0, 0], cos[0, 1]) and not torch.equal(cos[0, 2], cos[0, 3])
    c32, _ = rope.rope_cos_sin(pos, inv)
    assert c32[0, 0, 0].item() == pytest.approx(math.cos(30000.25), abs=1e-3)


def test_mrope_angles_take_axis_rows():
    inv = rope.default_inv_freq(32, 10_000.0)
    pos = torch.tensor([[[5.0]], [[7.0]], [[9.0]]])  # (3, b=1, n=1)
    ang = rope.rope_angles(pos, inv, [4, 6, 6])[0, 0]
    axis = rope.mrope_axis_of_frequency([4, 6, 6])
    expect = torch.tensor([5.0, 7.0, 9.0])[axis] * inv
    assert torch.equal(ang, expect)
