"""Position schemes: hand-written ids, transformers' get_rope_index, per-token reference loops."""

from __future__ import annotations

import math
import random

import pytest
import torch
from transformers import Qwen2Config
from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

from vlmctx.errors import ConfigError, UnsupportedModelError
from vlmctx.position import POSITIONS, RopeSpec, TokenLayout, batch_positions, compute_positions
from vlmctx.position.hf import layouts_from_mm_inputs, layouts_from_visual_mask, spec_from_config

MROPE = RopeSpec(32, 10_000.0, 512, (4, 6, 6), family="qwen2_vl")
FLAT = RopeSpec(32, 10_000.0, 512, None, family="llava_onevision")
# text 3, video (t=3, h=2, w=2) merged grid = 12 tokens, text 2
TYPES = [0] * 3 + [2] * 12 + [0] * 2
LAYOUT = TokenLayout.from_types(TYPES, [(3, 2, 2)])


@pytest.fixture(autouse=True)
def _fresh_identity_warnings():
    """Identity warnings are logged once per scheme and process; each test starts afresh."""
    from vlmctx.position import schemes

    schemes._WARNED.clear()


def ref_positions(types, grids, intervals, mrope, delta=1.0):
    """Slow per-token loop of the documented rule (vlmctx/position/ids.py docstring)."""
    out, last, i, k = [], -1.0, 0, 0
    while i < len(types):
        if types[i] == 0:
            last += 1
            out.append([last] * 3 if mrope else [last])
            i += 1
            continue
        (t, h, w), step = grids[k], intervals[k]
        k += 1
        for a in range(t):
            for b in range(h):
                for c in range(w):
                    offs = (math.floor(a * step), b, c) if mrope else (len(out) - i,)
                    out.append([last + delta * (1 + o) for o in offs])
        i += t * h * w
        last = math.ceil(last + delta * (max(h, w) if mrope else t * h * w))
    top = max(max(row) for row in out)
    pos = torch.tensor(out, dtype=torch.float64).T  # (3|1, n)
    return (pos if mrope else pos[0]), float(math.ceil(top) + 1)


def test_hand_written_mrope_default():
    plan = compute_positions("default", LAYOUT, MROPE)
    t = [0, 1, 2] + [3] * 4 + [4] * 4 + [5] * 4 + [5, 6]
    h = [0, 1, 2] + [3, 3, 4, 4] * 3 + [5, 6]
    w = [0, 1, 2] + [3, 4, 3, 4] * 3 + [5, 6]
    assert plan.position_ids.tolist() == [t, h, w]
    assert plan.position_ids.dtype == torch.float32
    assert plan.next_position == 7 and plan.rope_delta == 7 - 17


def test_hand_written_qwen2_5_time_aligned():
    # tokens_per_second 2 * second_per_grid_t 1.25 = 2.5 ids per grid frame, truncated
    layout = TokenLayout.from_types(TYPES, [(3, 2, 2)], time_intervals=[2.5])
    plan = compute_positions("default", layout, MROPE)
    assert plan.position_ids[0].tolist() == [0, 1, 2] + [3] * 4 + [5] * 4 + [8] * 4 + [5, 6]
    assert plan.next_position == 9


def test_hand_written_flat_and_v2pe():
    plan = compute_positions("default", LAYOUT, FLAT)
    assert plan.position_ids.tolist() == list(range(17)) and plan.next_position == 17
    v = compute_positions("v2pe", LAYOUT, FLAT, delta=0.5)
    assert v.position_ids.tolist() == [0, 1, 2] + [2 + 0.5 * k for k in range(1, 13)] + [9, 10]
    assert v.next_position == 11
    m = compute_positions("v2pe", LAYOUT, MROPE, delta=0.5)
    assert m.position_ids[0].tolist() == [0, 1, 2] + [2.5] * 4 + [3.0] * 4 + [3.5] * 4 + [4, 5]
    assert m.position_ids[2].tolist() == [0, 1, 2] + [2.5, 3.0] * 6 + [4, 5]
    assert m.next_position == 6


def random_layout(rng: random.Random, mrope: bool):
    types, grids, steps = [], [], []
    for _ in range(rng.randint(1, 3)):
        types += [0] * rng.randint(1, 4)
        t, h, w = rng.randint(1, 4), rng.randint(1, 3), rng.randint(1, 3)
        kind = rng.choice([1, 2])
        t = 1 if kind == 1 else t
        types += [kind] * (t * h * w)
        grids.append((t, h, w))
        steps.append(1.0 if kind == 1 or not mrope else rng.choice([0.5, 1.0, 2.5, 4.0]))
    types += [0] * rng.randint(0, 3)
    return types, grids, steps


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("mrope", [True, False])
@pytest.mark.parametrize("delta", [1.0, 0.25])
def test_ids_against_reference_loop(seed, mrope, delta):
    types, grids, steps = random_layout(random.Random(seed), mrope)
    layout = TokenLayout.from_types(types, grids, steps)
    plan = compute_positions("v2pe", layout, MROPE if mrope else FLAT, delta=delta)
    ref, nxt = ref_positions(types, grids, steps, mrope, delta)
    assert torch.equal(plan.position_ids.double(), ref) and plan.next_position == nxt


def hf_batch(model, layouts, pad_left, qwen25):
    """Run transformers' own get_rope_index on a padded batch of the given layouts."""
    length = max(len(t) for t, _, _ in layouts)
    ids, types, mask, img, vid, spg = [], [], [], [], [], []
    for t, grids, steps in layouts:
        pad = [0] * (length - len(t))
        row_types = pad + t if pad_left else t + pad
        row_mask = [0] * len(pad) + [1] * len(t) if pad_left else [1] * len(t) + [0] * len(pad)
        types.append(row_types)
        mask.append(row_mask)
        ids.append([90 if x == 1 else 91 if x == 2 else 5 for x in row_types])
        for k, x in enumerate(_runs(t)):
            g = grids[k]
            raw = (g[0], g[1] * 2, g[2] * 2)  # grids before the 2x2 spatial merge
            (img if x == 1 else vid).append(raw)
            if x == 2:
                spg.append(steps[k] / 2)  # tokens_per_second = 2
    kw = dict(
        input_ids=torch.tensor(ids),
        mm_token_type_ids=torch.tensor(types),
        image_grid_thw=torch.tensor(img) if img else None,
        video_grid_thw=torch.tensor(vid) if vid else None,
        attention_mask=torch.tensor(mask),
    )
    if qwen25:
        kw["second_per_grid_ts"] = torch.tensor(spg, dtype=torch.float32) if spg else None
    pos, deltas = model.model.get_rope_index(**kw)
    return pos, deltas, torch.tensor(mask), kw


def _runs(types):
    """Kind of each visual block (the random layouts never put two items back to back)."""
    out, prev = [], 0
    for x in types:
        if x != 0 and x != prev:
            out.append(x)
        prev = x
    return out


def _separated(rng, mrope):
    while True:
        t, g, s = random_layout(rng, mrope)
        if len(_runs(t)) == len(g):
            return t, g, s


@pytest.mark.parametrize("family", ["qwen2_vl", "qwen2_5_vl"])
@pytest.mark.parametrize("pad_left", [True, False])
def test_default_equals_transformers_get_rope_index(family, pad_left, request):
    model = request.getfixturevalue(family)
    rng = random.Random(7)
    layouts = [_separated(rng, True) for _ in range(4)]
    if family == "qwen2_vl":
        layouts = [(t, g, [1.0] * len(g)) for t, g, _ in layouts]
    ref_pos, ref_deltas, mask, kw = hf_batch(model, layouts, pad_left, family == "qwen2_5_vl")
    rows = layouts_from_mm_inputs(
        kw["mm_token_type_ids"],
        2,
        kw["image_grid_thw"],
        kw["video_grid_thw"],
        mask,
        kw.get("second_per_grid_ts"),
        2 if family == "qwen2_5_vl" else None,
    )
    assert all(
        torch.equal(a.token_type, b.token_type) and a.runs == b.runs
        for a, b in zip(rows, [TokenLayout.from_types(*lay) for lay in layouts], strict=True)
    )
    plans = [compute_positions("default", row, MROPE) for row in rows]
    batch = batch_positions(plans, mask)
    assert torch.equal(batch.position_ids, ref_pos.float())
    assert torch.equal(batch.rope_deltas, ref_deltas.float())
    assert batch.token_group is None and batch.inv_freq.shape == (1, 16)


# ---- frequencies: every token's (inv_freq, scaling) against an independent reference ----------


def hf_yarn(factor, orig, base=10_000.0):
    cfg = Qwen2Config(
        hidden_size=64,
        num_attention_heads=2,
        max_position_embeddings=512,
        rope_parameters={
            "rope_type": "yarn",
            "rope_theta": base,
            "factor": factor,
            "original_max_position_embeddings": orig,
        },
    )
    return ROPE_INIT_FUNCTIONS["yarn"](cfg)


def per_token(plan):
    """(n, d/2) inv_freq and (n,) scaling of each token, read through the plan's groups."""
    group = plan.token_group if plan.token_group is not None else torch.zeros(plan.n).long()
    return plan.inv_freq[group], plan.attention_scaling[group]


def theta(j, base=10_000.0, d=32):
    return base ** (-2 * j / d)


def check_tokens(plan, expect):
    """``expect(i) -> (list of d/2 floats, scale)`` for token i, compared per token."""
    inv, scale = per_token(plan)
    for i in range(plan.n):
        ref_inv, ref_scale = expect(i)
        torch.testing.assert_close(
            inv[i].double(), torch.tensor(ref_inv, dtype=torch.float64), rtol=2e-6, atol=0
        )
        assert scale[i].item() == pytest.approx(ref_scale, rel=1e-6)


BIG = TokenLayout.from_types([0] * 5 + [2] * 48 + [0] * 4, [(3, 4, 4)])  # 48 visual, 57 tokens


@pytest.mark.parametrize("spec", [MROPE, FLAT], ids=["mrope", "flat"])
def test_pi_ntk_entropy_reference(spec):
    s = 3.0
    check_tokens(
        compute_positions("pi", BIG, spec, factor=s),
        lambda i: ([theta(j) / s for j in range(16)], 1.0),
    )
    base = 10_000.0 * s ** (32 / 30)
    check_tokens(
        compute_positions("ntk", BIG, spec, factor=s),
        lambda i: ([theta(j, base) for j in range(16)], 1.0),
    )
    plan = compute_positions("entropy_abf", BIG, spec, base_factor=50.0, original_window=16)
    lam = max(1.0, math.log(plan.next_position) / math.log(16))
    check_tokens(plan, lambda i: ([theta(j, 500_000.0) for j in range(16)], math.sqrt(lam)))


@pytest.mark.parametrize("spec", [MROPE, FLAT], ids=["mrope", "flat"])
def test_auto_factor_fits_window(spec):
    nxt = compute_positions("default", BIG, spec).next_position
    plan = compute_positions("yarn", BIG, spec, original_window=8)
    assert plan.info["factor"] == pytest.approx(nxt / 8) and nxt > 8
    ref, mscale = hf_yarn(nxt / 8, 8)
    check_tokens(plan, lambda i: (ref.tolist(), mscale))


@pytest.mark.parametrize("spec", [MROPE, FLAT], ids=["mrope", "flat"])
def test_vcwe_reference(spec):
    ref, mscale = hf_yarn(48 / 12, 12)  # s = visual tokens / visual window, ramp on the window
    default = [theta(j) for j in range(16)]
    visual = BIG.token_type != 0
    both = compute_positions("vcwe", BIG, spec, visual_window=12, apply_to="all")
    check_tokens(both, lambda i: (ref.tolist(), mscale))
    only = compute_positions("vcwe", BIG, spec, visual_window=12, apply_to="visual")
    check_tokens(only, lambda i: (ref.tolist(), mscale) if visual[i] else (default, 1.0))
    cold = compute_positions(
        "vcwe", BIG, spec, visual_window=12, attention_temperature=False, apply_to="all"
    )
    check_tokens(cold, lambda i: (ref.tolist(), 1.0))
    plain = compute_positions("vcwe", BIG, spec, visual_window=12)  # default: the visual reading
    assert plain.info["apply_to"] == "visual" and torch.equal(plain.inv_freq, only.inv_freq)
    target = compute_positions("vcwe", BIG, spec, visual_window=12, target_visual_tokens=96)
    assert target.info["factor"] == 8.0
    for plan in (both, only, cold):  # positions stay the model's own
        assert torch.equal(plan.position_ids, compute_positions("default", BIG, spec).position_ids)


def test_mrope_pp_reference():
    s = 4.0
    t, h = 4, 6

    def gamma(j):
        if j < t:
            return 1.0
        if j < t + h:
            a, b = theta(t - 1), theta(t + h - 1)
            return 1 / s + (1 - 1 / s) * (theta(j) - b) / (a - b)
        return 1 / s

    plan = compute_positions("mrope_pp", BIG, MROPE, factor=s)
    check_tokens(plan, lambda i: ([gamma(j) * theta(j) for j in range(16)], 1.0))
    with pytest.raises(UnsupportedModelError, match="M-RoPE"):
        compute_positions("mrope_pp", BIG, FLAT, factor=s)


IDENTITY = [
    ("pi", {"factor": 1.0}),
    ("ntk", {"factor": 1.0}),
    ("ntk", {"factor": 1.0, "dynamic": True}),
    ("yarn", {"factor": 1.0}),
    ("yarn", {}),  # auto: the sequence fits the window
    ("entropy_abf", {"base_factor": 1.0}),
    ("vcwe", {"visual_window": 48}),  # s = 1
    ("vcwe", {"visual_window": 48, "apply_to": "all"}),
    ("vcwe", {"visual_window": 4096, "apply_to": "visual"}),
    ("v2pe", {"delta": 1.0}),
    ("v2pe", {}),  # auto: delta 1 fits
    ("mrope_pp", {"factor": 1.0}),
]


@pytest.mark.parametrize("name,params", IDENTITY)
@pytest.mark.parametrize("spec", [MROPE, FLAT], ids=["mrope", "flat"])
def test_identity_settings_equal_default(name, params, spec):
    if name == "mrope_pp" and not spec.is_mrope:
        with pytest.raises(UnsupportedModelError):  # refused for 1-D families
            compute_positions(name, BIG, spec, **params)
        return
    default = compute_positions("default", BIG, spec)
    plan = compute_positions(name, BIG, spec, **params)
    assert torch.equal(plan.position_ids, default.position_ids)
    assert plan.next_position == default.next_position
    assert torch.equal(per_token(plan)[0], per_token(default)[0])
    assert torch.equal(per_token(plan)[1], per_token(default)[1])


def test_v2pe_auto_delta_fits_window():
    plan = compute_positions("v2pe", BIG, FLAT, target_window=30)  # 9 text + 48 visual tokens
    assert plan.info["delta"] == 0.25 and plan.next_position <= 30
    bigger = compute_positions("v2pe", BIG, FLAT, delta=0.5)
    assert bigger.next_position > 30


def test_registry_validation():
    assert set(POSITIONS.names()) >= {
        "default",
        "pi",
        "ntk",
        "yarn",
        "entropy_abf",
        "vcwe",
        "v2pe",
        "mrope_pp",
    }
    with pytest.raises(ConfigError, match="no parameter"):
        POSITIONS.create("vcwe", window=3)
    with pytest.raises(ConfigError, match="apply_to"):
        POSITIONS.create("vcwe", apply_to="text")
    with pytest.raises(ConfigError, match="delta"):
        POSITIONS.create("v2pe", delta=2)
    with pytest.raises(ConfigError, match="visual_window"):
        compute_positions("vcwe", BIG, RopeSpec(32, 1e4, 512, family="mystery"))


def test_layout_validation():
    with pytest.raises(ConfigError):
        TokenLayout.from_types([0, 2, 2, 0], [(1, 2, 2)])  # 2 tokens, grid needs 4
    with pytest.raises(ConfigError):
        TokenLayout.from_types([0, 2, 2, 0], [(1, 1, 2), (1, 1, 1)])
    two = TokenLayout.from_types([0, 1, 1, 1, 0], [(1, 1, 2), (1, 1, 1)])  # back-to-back items
    assert [r.start for r in two.runs] == [1, 3]


def test_generate_next_vs_rope_delta():
    # temporal ids (t=6) run past the 2 text tokens that follow a 6x1x1 video
    layout = TokenLayout.from_types([0, 0] + [2] * 6 + [0, 0], [(6, 1, 1)])
    plan = compute_positions("default", layout, MROPE)
    assert plan.position_ids[0].tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 3, 4]
    assert plan.next_position == 8 and plan.generate_next == 5


def test_spec_from_config_and_visual_mask(qwen2_vl):
    spec = spec_from_config(qwen2_vl.config.text_config, family="qwen2_vl")
    assert spec == RopeSpec(32, 10_000.0, 512, (4, 6, 6), family="qwen2_vl")
    flat = Qwen2Config(
        hidden_size=64,
        num_attention_heads=2,
        rope_parameters={"rope_type": "default", "rope_theta": 1e6},
    )
    assert spec_from_config(flat).mrope_section is None
    vis = torch.tensor([[0, 0, 1, 1, 1, 0, 1, 1, 0]])
    (layout,) = layouts_from_visual_mask(vis, torch.tensor([[0, 1, 1, 1, 1, 1, 1, 1, 1]]))
    assert [(r.start, r.length) for r in layout.runs] == [(1, 3), (5, 2)] and layout.n == 8


# ---- automatic settings on real dimensions (architecture cards) ----------------------------------
def _card_spec(hub_id: str):
    from vlmctx.models.cards import card

    c = card(hub_id)
    return spec_from_config(c.hf_config().get_text_config(), c.family, c.visual_window)


def _video_layout(frames: int, tokens_per_frame_side: int, mrope: bool, temporal: int = 2):
    """text 20, one video, text 10; Qwen grids merge 2 frames per temporal patch."""
    side = tokens_per_frame_side
    t = frames // temporal if mrope else 1
    grid = (t, side, side) if mrope else (1, 1, frames * side * side)
    n_vis = grid[0] * grid[1] * grid[2]
    return TokenLayout.from_types([0] * 20 + [2] * n_vis + [0] * 10, [grid])


def test_mrope_pp_auto_acts_at_256_frames_of_qwen2_vl_7b(caplog):
    spec = _card_spec("Qwen/Qwen2-VL-7B-Instruct")  # head_dim 128, [16, 24, 24], L_V 16384
    assert spec.visual_window == 16384 and spec.head_dim == 128
    long = _video_layout(256, 16, mrope=True)  # 448 px frames: 16x16 merged tokens, 32768 visual
    plan = compute_positions("mrope_pp", long, spec)
    # s = visual tokens / L_V: the prompt's 30 text tokens do not count
    assert plan.info["factor"] == pytest.approx(long.n_visual / 16384) == 2.0
    assert plan.info["original_window"] == 16384
    # GIRAFFE Eq. 6: 16 temporal frequencies kept, 24 width ones at 1/s, the 24 height ones on a
    # ramp whose last point is exactly 1/s (so it counts as interpolated)
    assert plan.info["frequencies_kept"] == 16
    assert plan.info["frequencies_interpolated"] == 25
    assert plan.info["frequencies_changed_otherwise"] == 23
    assert plan.next_position < 1000  # position ids span far less than the tokens
    short = _video_layout(32, 16, mrope=True)  # 4096 visual tokens: fits L_V
    with caplog.at_level("WARNING"):
        same = compute_positions("mrope_pp", short, spec)
    assert same.info["factor"] == 1.0 and "mrope_pp changes nothing" in caplog.text
    assert torch.equal(same.inv_freq, compute_positions("default", short, spec).inv_freq)


def test_vcwe_auto_acts_at_256_frames_and_reports(caplog):
    spec = _card_spec("llava-hf/llava-onevision-qwen2-7b-ov-hf")  # window 6272 = 32 x 196
    long = _video_layout(256, 14, mrope=False)  # 196 tokens per frame
    plan = compute_positions("vcwe", long, spec)
    assert plan.info["apply_to"] == "visual" and plan.info["factor"] == pytest.approx(8.0)
    assert plan.groups == 2 and plan.info["frequencies_interpolated"] > 0
    assert 0 < plan.info["frequencies_kept"] < 64
    with caplog.at_level("WARNING"):
        compute_positions("vcwe", _video_layout(16, 14, mrope=False), spec)
    assert "vcwe changes nothing" in caplog.text


@pytest.mark.parametrize(
    "hub_id,window", [("OpenGVLab/InternVL3-8B-hf", 8192), ("Qwen/Qwen2-VL-7B-Instruct", 16384)]
)
def test_v2pe_auto_targets_the_trained_window(hub_id, window, caplog):
    spec = _card_spec(hub_id)
    mrope = spec.is_mrope
    long = _video_layout(256, 16, mrope=mrope)
    plan = compute_positions("v2pe", long, spec)
    assert plan.info["target_window"] == window
    assert plan.next_position - long.n_text <= window  # the visual positions fit; text not counted
    if not mrope:  # 65536 visual tokens in 8192 visual positions: delta 1/8
        assert plan.info["delta"] == 1 / 8
    with caplog.at_level("WARNING"):
        short = compute_positions("v2pe", _video_layout(8, 16, mrope=mrope), spec)
    assert short.info["delta"] == 1.0 and "v2pe changes nothing" in caplog.text


def test_explicit_identity_does_not_warn(caplog):
    with caplog.at_level("WARNING"):
        compute_positions("mrope_pp", BIG, MROPE, factor=1.0)
        compute_positions("v2pe", BIG, FLAT, delta=1.0)
    assert "changes nothing" not in caplog.text


def test_prompt_text_does_not_count_against_the_visual_window() -> None:
    """The toy lab's case: a 16-token visual window, 16 visual tokens and ~60 text tokens. The
    automatic settings must stay the identity (text once forced v2pe to delta 1/256 and
    mrope_pp to s = 4.7 at the trained length)."""
    spec = RopeSpec(64, 1e6, 32768, (8, 12, 12), family="toy", visual_window=16)
    layout = TokenLayout.from_types([0] * 50 + [2] * 16 + [0] * 10, [(2, 2, 4)])
    assert compute_positions("v2pe", layout, spec).info["delta"] == 1.0
    assert compute_positions("mrope_pp", layout, spec).info["factor"] == 1.0
    twice = TokenLayout.from_types([0] * 50 + [2] * 32 + [0] * 10, [(4, 2, 4)])
    assert compute_positions("mrope_pp", twice, spec).info["factor"] == 2.0
    flat = RopeSpec(64, 1e6, 32768, family="toy", visual_window=16)  # 1-D: a token per position
    one_d = TokenLayout.from_types([0] * 50 + [2] * 16 + [0] * 10, [(1, 1, 16)])
    assert compute_positions("v2pe", one_d, flat).info["delta"] == 1.0
    one_d2 = TokenLayout.from_types([0] * 50 + [2] * 32 + [0] * 10, [(1, 1, 32)])
    assert compute_positions("v2pe", one_d2, flat).info["delta"] == 0.5
