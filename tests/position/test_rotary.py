"""The generic rotary: bit-equal to transformers' modules, per-token groups, tiny-model runs."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from transformers import Qwen2Config
from transformers.models.qwen2.modeling_qwen2 import Qwen2RotaryEmbedding

from vlmctx.position import (
    RopeSpec,
    SchemeRotaryEmbedding,
    TokenLayout,
    batch_positions,
    compute_positions,
)

SPEC = RopeSpec(32, 10_000.0, 512, (4, 6, 6), family="qwen2_vl")
FLAT = RopeSpec(32, 10_000.0, 512, None, family="llava_onevision")
LAYOUT = TokenLayout.from_types([0] * 4 + [2] * 18 + [0] * 3, [(2, 3, 3)])


def mrope_ids(b=2, n=25, frac=False):
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 400, (3, b, n), generator=g).float()
    return ids + 0.25 * torch.randint(0, 4, ids.shape, generator=g) if frac else ids


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("frac", [False, True])
def test_default_bit_equal_to_qwen2_vl_rotary(qwen2_vl, dtype, frac):
    ref = qwen2_vl.model.language_model.rotary_emb
    ours = SchemeRotaryEmbedding.from_spec(SPEC)
    x = torch.zeros(1, dtype=dtype)
    for ids in (mrope_ids(frac=frac), mrope_ids(frac=frac)[0]):  # (3, b, n) and (b, n)
        for a, b in zip(ref(x, ids), ours(x, ids), strict=True):
            assert a.dtype == b.dtype == dtype and torch.equal(a, b)


@pytest.mark.parametrize("rope_type", ["default", "yarn"])
def test_bit_equal_to_qwen2_rotary(rope_type):
    params = {"rope_type": rope_type, "rope_theta": 10_000.0}
    if rope_type == "yarn":
        params |= {"factor": 4.0, "original_max_position_embeddings": 128}
    cfg = Qwen2Config(
        hidden_size=64, num_attention_heads=2, max_position_embeddings=512, rope_parameters=params
    )
    ref = Qwen2RotaryEmbedding(cfg)
    name = "yarn" if rope_type == "yarn" else "default"
    kw = {"factor": 4.0, "original_window": 128} if rope_type == "yarn" else {}
    plan = compute_positions(name, TokenLayout.text_only(40), FLAT, **kw)
    ours = SchemeRotaryEmbedding.from_spec(FLAT)
    ours.set_positions(plan)
    ids = mrope_ids(frac=True)[0]
    for dtype in (torch.float32, torch.bfloat16):
        x = torch.zeros(1, dtype=dtype)
        for a, b in zip(ref(x, ids), ours(x, ids), strict=True):
            assert torch.equal(a, b)


def test_vcwe_visual_groups_prefill_decode_recompute():
    plan = compute_positions("vcwe", LAYOUT, SPEC, visual_window=6, apply_to="visual")
    rot = SchemeRotaryEmbedding.from_spec(SPEC)
    rot.set_positions(batch_positions([plan], torch.ones(1, plan.n)))
    x = torch.zeros(1)
    ids = plan.position_ids[:, None]  # (3, 1, n)
    cos, sin = rot(x, ids)
    # slow reference: token by token, axis by axis, in float64
    visual = LAYOUT.token_type != 0
    for i in range(plan.n):
        inv = plan.inv_freq[1 if visual[i] else 0].double()
        scale = plan.attention_scaling[1 if visual[i] else 0].item()
        for j in range(16):
            axis = 0 if j < 4 else 1 if j < 10 else 2
            ang = plan.position_ids[axis, i].item() * inv[j].item()
            assert cos[0, i, j].item() == pytest.approx(math.cos(ang) * scale, abs=2e-6)
            assert sin[0, i, j + 16].item() == pytest.approx(math.sin(ang) * scale, abs=2e-6)
    # a cached decode step (1 token) is text: the original frequencies, no temperature
    step = torch.full((3, 1, 1), plan.next_position)
    c1, _ = rot(x, step)
    assert torch.equal(c1, SchemeRotaryEmbedding.from_spec(SPEC)(x, step)[0])
    # a full recompute (prompt + 2 generated) = prompt groups then text
    longer = torch.cat([ids, torch.full((3, 1, 2), plan.next_position)], dim=-1)
    c2, _ = rot(x, longer)
    assert torch.equal(c2[:, : plan.n], cos) and torch.equal(c2[:, plan.n :], c1.expand(1, 2, -1))


def _swap(model, plan_or_batch):
    model = copy.deepcopy(model)
    rot = SchemeRotaryEmbedding.from_spec(SPEC)
    rot.set_positions(plan_or_batch)
    model.model.language_model.rotary_emb = rot
    return model


def test_identity_swap_gives_identical_logits(qwen2_vl):
    plan = compute_positions("default", LAYOUT, SPEC)
    mask = torch.tensor([[0, 0] + [1] * plan.n])  # left padded
    batch = batch_positions([plan], mask)
    input_ids = torch.randint(3, 80, (1, plan.n + 2), generator=torch.Generator().manual_seed(1))
    ref = qwen2_vl(
        input_ids=input_ids, position_ids=batch.position_ids.long(), attention_mask=mask
    ).logits
    out = _swap(qwen2_vl, batch)(
        input_ids=input_ids, position_ids=batch.position_ids, attention_mask=mask
    ).logits
    assert torch.equal(ref, out)


def test_fractional_ids_survive_bf16_model(qwen2_vl):
    plan = compute_positions("v2pe", LAYOUT, SPEC, delta=0.25)
    assert (plan.position_ids.frac() != 0).any()
    mask = torch.ones(1, plan.n, dtype=torch.long)
    batch = batch_positions([plan], mask)
    model = _swap(qwen2_vl, batch).to(torch.bfloat16)
    rot = model.model.language_model.rotary_emb
    assert rot.inv_freq_table.dtype == torch.float32  # tables stay fp32 under .to(bf16)
    assert torch.equal(rot.inv_freq, plan.inv_freq[0])
    input_ids = torch.randint(3, 80, (1, plan.n), generator=torch.Generator().manual_seed(2))
    frac = model(input_ids=input_ids, position_ids=batch.position_ids, attention_mask=mask).logits
    floor = model(
        input_ids=input_ids, position_ids=batch.position_ids.floor(), attention_mask=mask
    ).logits
    assert torch.isfinite(frac.float()).all() and not torch.equal(frac, floor)


def test_kv_cache_decode_equals_full_recompute(qwen2_vl):
    """Multi-group plan (VCWE visual-only): cached decode == recompute of the whole sequence."""
    plan = compute_positions("vcwe", LAYOUT, SPEC, visual_window=6, apply_to="visual")
    model = _swap(qwen2_vl, plan)
    ids = torch.randint(3, 80, (1, plan.n + 3), generator=torch.Generator().manual_seed(3))
    pos = torch.cat([plan.position_ids, plan.next_position + torch.arange(3.0).expand(3, -1)], 1)
    pos = pos[:, None]  # (3, 1, n + 3)
    full = model(input_ids=ids, position_ids=pos, attention_mask=torch.ones_like(ids)).logits
    out = model(
        input_ids=ids[:, : plan.n],
        position_ids=pos[..., : plan.n],
        attention_mask=torch.ones(1, plan.n, dtype=torch.long),
        use_cache=True,
    )
    cache, steps = out.cache, [out.logits[:, -1]]
    for k in range(plan.n, plan.n + 3):
        out = model(
            input_ids=ids[:, k : k + 1],
            position_ids=pos[..., k : k + 1],
            cache=cache,
            attention_mask=torch.ones(1, k + 1, dtype=torch.long),
            use_cache=True,
        )
        cache = out.cache
        steps.append(out.logits[:, -1])
    torch.testing.assert_close(
        torch.stack(steps[:-1], 1), full[:, plan.n - 1 : -1], atol=1e-5, rtol=1e-4
    )


def test_generate_cached_equals_uncached_batched_multi_group(qwen2_vl):
    """generate() on a left-padded batch with a per-row VCWE (visual-only) plan: KV-cache decode
    and full-recompute decode pick the same tokens."""
    layouts = [LAYOUT, TokenLayout.from_types([0] * 3 + [2] * 8 + [0] * 2, [(2, 2, 2)])]
    plans = [
        compute_positions("vcwe", lay, SPEC, visual_window=6, apply_to="visual") for lay in layouts
    ]
    length = max(p.n for p in plans)
    mask = torch.tensor([[0] * (length - p.n) + [1] * p.n for p in plans])
    batch = batch_positions(plans, mask)
    assert batch.inv_freq.shape[0] == 3 and batch.token_group is not None  # text + 2 visual
    model = _swap(qwen2_vl, batch)
    ids = torch.randint(3, 80, (2, length), generator=torch.Generator().manual_seed(4))
    kw = dict(
        input_ids=ids,
        attention_mask=mask,
        position_ids=batch.position_ids,
        max_new_tokens=4,
        do_sample=False,
    )
    cached = model.generate(**kw, use_cache=True)
    recomputed = model.generate(**kw, use_cache=False)
    assert torch.equal(cached, recomputed)


def test_attention_mask_trap_with_fractional_ids():
    """Why an attention mask must travel with fractional ids (1-D LMs, transformers 5.24):
    without mask and cache, non-unit steps are read as packed sequences."""
    from transformers import Qwen2ForCausalLM

    from tests.position.conftest import TEXT

    torch.manual_seed(0)
    cfg = Qwen2Config(**TEXT, rope_parameters={"rope_type": "default", "rope_theta": 1e4})
    lm = Qwen2ForCausalLM(cfg).eval()
    pos = compute_positions("v2pe", LAYOUT, FLAT, delta=0.25).position_ids[None]  # (1, n)
    ids = torch.randint(3, 80, (1, pos.shape[-1]), generator=torch.Generator().manual_seed(5))
    masked = lm(
        input_ids=ids, position_ids=pos, attention_mask=torch.ones_like(ids), use_cache=False
    ).logits
    cached = lm(input_ids=ids, position_ids=pos, use_cache=True).logits
    bare = lm(input_ids=ids, position_ids=pos, use_cache=False).logits
    assert torch.equal(masked, cached)
    assert not torch.allclose(masked, bare)  # the silent block-diagonal mask
