"""KV-cached rollouts equal recomputing the context, for every context layout."""

import pytest
import torch

from vlmctx.errors import ConfigError
from vlmctx.far import FlexRoPE, RolloutConfig, rollout


@pytest.mark.parametrize("layout", ["full", "window", "longshort"])
@pytest.mark.parametrize("slope", [0.0, 0.3])
def test_cached_equals_uncached(tiny_model, layout, slope):
    ctx, noise = torch.randn(2, 2, 1, 16, 16), torch.randn(2, 7, 1, 16, 16)
    rc = RolloutConfig(steps=3, layout=layout, flex=FlexRoPE(slope))
    cached = rollout(tiny_model, ctx, 7, rc, noise=noise)
    plain = rollout(
        tiny_model, ctx, 7, RolloutConfig(**{**rc.__dict__, "use_cache": False}), noise=noise
    )
    assert (cached - plain).abs().max() < 1e-4


def test_layouts_differ_once_frames_leave_the_window(tiny_model):
    ctx, noise = torch.randn(1, 6, 1, 16, 16), torch.randn(1, 2, 1, 16, 16)
    outs = {
        lay: rollout(tiny_model, ctx, 2, RolloutConfig(steps=2, layout=lay), noise=noise)
        for lay in ("full", "window", "longshort")
    }
    assert not torch.allclose(outs["full"], outs["window"], atol=1e-4)
    assert not torch.allclose(outs["window"], outs["longshort"], atol=1e-4)


def test_cached_equals_uncached_with_cfg(make_model):
    model = make_model(num_classes=2)
    ctx, noise = torch.randn(2, 2, 1, 16, 16), torch.randn(2, 5, 1, 16, 16)
    y = torch.tensor([0, 1])
    rc = RolloutConfig(steps=2, layout="longshort", cfg_scale=2.0)
    a = rollout(model, ctx, 5, rc, y=y, noise=noise)
    b = rollout(
        model, ctx, 5, RolloutConfig(steps=2, cfg_scale=2.0, use_cache=False), y=y, noise=noise
    )
    unguided = rollout(model, ctx, 5, RolloutConfig(steps=2), y=y, noise=noise)
    assert (a - b).abs().max() < 1e-4
    assert not torch.allclose(a, unguided, atol=1e-3)


def test_bad_rollout_inputs(tiny_model):
    with pytest.raises(ConfigError):
        RolloutConfig(layout="nope")
    with pytest.raises(ConfigError):
        rollout(tiny_model, torch.randn(1, 2, 3, 16, 16), 1)
