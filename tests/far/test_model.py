"""FAR model: frame-causal attention, per-frame conditioning, long-term stream."""

import torch

from vlmctx.far.model import CLEAN, LONG, NOISY, Segment
from vlmctx.far.patches import patchify, unpatchify


def _segments(model, frames, n_ctx=0):
    cfg = model.cfg
    b, t = frames.shape[:2]
    main = Segment(
        patchify(frames[:, n_ctx:], cfg.patch),
        torch.arange(n_ctx, t),
        torch.full((b, t - n_ctx), 0.5),
        torch.full((b, t - n_ctx), NOISY),
    )
    ctx = None
    if n_ctx:
        ctx = Segment(
            patchify(frames[:, :n_ctx], cfg.patch * cfg.ctx_kernel),
            torch.arange(n_ctx),
            torch.zeros(b, n_ctx),
            torch.full((b, n_ctx), LONG),
        )
    return main, ctx


def test_patchify_roundtrip():
    x = torch.randn(2, 3, 1, 16, 16)
    assert torch.equal(unpatchify(patchify(x, 4), 4, 1, 16, 16), x)
    assert patchify(x, 8).shape == (2, 3, 4, 64)


def test_later_frame_cannot_change_earlier_outputs(tiny_model):
    frames = torch.randn(1, 5, 1, 16, 16)
    changed = frames.clone()
    changed[:, 3:] = torch.randn(1, 2, 1, 16, 16)  # perturb frames 3 and 4
    out_a = tiny_model(*_segments(tiny_model, frames))
    out_b = tiny_model(*_segments(tiny_model, changed))
    assert torch.allclose(out_a[:, :3], out_b[:, :3], atol=1e-6)
    assert not torch.allclose(out_a[:, 3:], out_b[:, 3:], atol=1e-3)


def test_attention_is_full_inside_a_frame(tiny_model):
    frames = torch.randn(1, 2, 1, 16, 16)
    changed = frames.clone()
    changed[:, 1, :, -4:, -4:] += 1.0  # only the last token of frame 1
    out_a = tiny_model(*_segments(tiny_model, frames))
    out_b = tiny_model(*_segments(tiny_model, changed))
    assert not torch.allclose(out_a[:, 1, 0], out_b[:, 1, 0], atol=1e-4)  # first token sees it
    assert torch.allclose(out_a[:, 0], out_b[:, 0], atol=1e-6)


def test_long_term_context_is_causal_and_used(tiny_model):
    frames = torch.randn(1, 7, 1, 16, 16)
    main, ctx = _segments(tiny_model, frames, n_ctx=3)
    out, kv = tiny_model(main, ctx=ctx, return_kv=True)
    n_ctx_tok = 3 * tiny_model.cfg.ctx_tokens_per_frame
    changed = frames.clone()
    changed[:, 5:] = torch.randn(1, 2, 1, 16, 16)
    main2, ctx2 = _segments(tiny_model, changed, n_ctx=3)
    out2, kv2 = tiny_model(main2, ctx=ctx2, return_kv=True)
    for k1, k2 in zip(kv.keys, kv2.keys, strict=True):  # long-term keys ignore later frames
        assert torch.allclose(k1[:, :, :n_ctx_tok], k2[:, :, :n_ctx_tok], atol=1e-6)
    changed = frames.clone()
    changed[:, 0] = -changed[:, 0]  # a compressed frame changes every later output
    out3 = tiny_model(*_segments(tiny_model, changed, n_ctx=3))
    assert not torch.allclose(out, out3, atol=1e-4)


def test_per_frame_time_and_state_condition_only_their_frame(tiny_model):
    frames = torch.randn(1, 3, 1, 16, 16)
    main, _ = _segments(tiny_model, frames)
    out_a = tiny_model(main)
    main.state = main.state.clone()
    main.state[:, 2] = CLEAN
    out_b = tiny_model(main)
    assert torch.allclose(out_a[:, :2], out_b[:, :2], atol=1e-6)
    assert not torch.allclose(out_a[:, 2], out_b[:, 2], atol=1e-4)


def test_class_labels_change_the_output(make_model):
    model = make_model(num_classes=3)
    main, _ = _segments(model, torch.randn(2, 2, 1, 16, 16))
    a = model(main, y=torch.tensor([0, 0]))
    b = model(main, y=torch.tensor([1, 1]))
    assert not torch.allclose(a, b, atol=1e-4)


def test_paper_presets_build_with_paper_geometry():
    from vlmctx.far import preset

    cfg = preset("far-b")
    assert (cfg.dim, cfg.depth, cfg.heads, cfg.head_dim) == (768, 12, 12, 64)
    assert cfg.tokens_per_frame == 64 and cfg.ctx_tokens_per_frame == 4
