"""Interleaved M-RoPE (Qwen3-VL / Qwen3.5, arXiv 2511.21631): the owner map against transformers'
own rotary, and M-RoPE++ per frequency by axis."""

from __future__ import annotations

import torch

from vlmctx.position import RopeSpec, SchemeRotaryEmbedding, rope


def test_owner_map_and_cos_sin_equal_transformers_qwen3_vl_rotary() -> None:
    from transformers.models.qwen3_vl.configuration_qwen3_vl import Qwen3VLTextConfig
    from transformers.models.qwen3_vl.modeling_qwen3_vl import Qwen3VLTextRotaryEmbedding

    params = {"rope_type": "default", "rope_theta": 5e6, "mrope_section": [24, 20, 20]}
    cfg = Qwen3VLTextConfig(head_dim=128, rope_parameters=params)
    ref = Qwen3VLTextRotaryEmbedding(cfg)
    spec = RopeSpec(128, 5e6, 262144, (24, 20, 20), mrope_interleaved=True)
    pos = torch.randint(0, 200_000, (3, 1, 9))
    x = torch.zeros(1)
    for got, want in zip(SchemeRotaryEmbedding.from_spec(spec)(x, pos), ref(x, pos), strict=True):
        assert torch.equal(got, want)
    axis = rope.mrope_axis_of_frequency([24, 20, 20], interleaved=True)
    assert axis[:6].tolist() == [0, 1, 2, 0, 1, 2] and axis[60:].tolist() == [0, 0, 0, 0]
    assert [int((axis == a).sum()) for a in range(3)] == [24, 20, 20]


def test_mrope_pp_interleaved_keeps_t_ramps_h_interpolates_w() -> None:
    inv = rope.default_inv_freq(128, 5e6)
    axis = rope.mrope_axis_of_frequency([24, 20, 20], interleaved=True)
    g = rope.mrope_pp_gamma(inv, [24, 20, 20], 4.0, interleaved=True)
    assert torch.all(g[axis == 0] == 1) and torch.allclose(g[axis == 2], torch.tensor(0.25))
    h = g[axis == 1]
    assert torch.all(h[1:] <= h[:-1]) and h[-1] == 0.25 and 0.25 < h[0] < 1
    assert torch.all(rope.mrope_pp_gamma(inv, [24, 20, 20], 1.0, interleaved=True) == 1)


def test_mrope_pp_chunked_is_still_eq_6() -> None:
    inv = rope.default_inv_freq(128, 1e6)
    g = rope.mrope_pp_gamma(inv, [16, 24, 24], 4.0)
    a, b = inv[15], inv[39]
    assert torch.all(g[:16] == 1) and torch.all(g[40:] == 0.25)
    assert torch.allclose(g[16:40], 0.25 + 0.75 * (inv[16:40] - b) / (a - b))
