"""Training: loss decreases on synthetic shapes; resume reproduces an uninterrupted run."""

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from pipelines.far.train import TrainConfig, train
from vlmctx.errors import ConfigError
from vlmctx.far.data import shapes_sequence


def test_shapes_are_deterministic_and_bounce():
    a, la = shapes_sequence(3, 40)
    b, lb = shapes_sequence(3, 40)
    assert np.array_equal(a, b) and la == lb
    assert a.min() == -1.0 and a.max() <= 1.0 and a.shape == (40, 1, 16, 16)
    assert not np.array_equal(a[0], a[1])  # shapes move


def test_loss_decreases(tmp_path):
    tc = TrainConfig(
        out=str(tmp_path),
        preset="tiny",
        steps=60,
        batch=8,
        max_len=6,
        lr=3e-3,
        warmup=5,
        save_every=1000,
        threads=1,
    )
    losses = train(tc)["losses"]
    assert np.mean(losses[-10:]) < 0.6 * np.mean(losses[:10])


def test_resume_matches_uninterrupted_run(tmp_path):
    def cfg(out, steps):
        return TrainConfig(
            out=str(out),
            preset="tiny",
            steps=steps,
            batch=2,
            max_len=6,
            save_every=2,
            threads=1,
            class_cond=True,
        )

    train(cfg(tmp_path / "a", 4))
    train(cfg(tmp_path / "b", 2))
    train(cfg(tmp_path / "b", 4), resume=True)
    wa = load_file(str(tmp_path / "a" / "model.safetensors"))
    wb = load_file(str(tmp_path / "b" / "model.safetensors"))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_bad_training_config(tmp_path):
    with pytest.raises(ConfigError):
        train(TrainConfig(out=str(tmp_path), preset="tiny", max_len=2, steps=1))
    with pytest.raises(ConfigError):
        train(TrainConfig(out=str(tmp_path), data=str(tmp_path / "nope"), steps=1))
