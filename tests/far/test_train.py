"""Training: loss decreases on synthetic shapes; resume reproduces an uninterrupted run; videos
are read back through the project's reader."""

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from vlmctx.errors import ConfigError
from vlmctx.far import data
from vlmctx.far.data import read_video_frames, shapes_sequence
from vlmctx_pipelines.far.train import TrainConfig, train
from vlmctx_pipelines.far.video_io import write_video


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


@pytest.mark.parametrize("suffix", [".mp4", ".gif"])
def test_read_video_frames_round_trips_a_written_video(tmp_path, monkeypatch, suffix):
    frames, _ = shapes_sequence(5, 20)  # [t, 1, 16, 16] in [-1, 1]
    path = write_video(torch.from_numpy(frames), tmp_path / f"v{suffix}", scale=4)
    back = read_video_frames(path, 16, 1)
    assert back.shape == frames.shape and back.dtype == np.float32
    assert np.abs(back - frames).mean() < 0.05  # near-lossless encode, 4x down again
    np.testing.assert_array_equal(read_video_frames(path, 16, 1, max_frames=7), back[:7])
    monkeypatch.setattr(data, "READ_CHUNK", 3)  # many reader calls: same frames
    np.testing.assert_array_equal(read_video_frames(path, 16, 1), back)


def test_read_video_frames_chunks_over_keyframes(tmp_path, monkeypatch):
    from vlmctx.video.synthetic.clips import write_clip

    path = write_clip(tmp_path / "c.mp4", num_frames=30, gop=8, bframes=2)
    whole = read_video_frames(path, 24, 3)
    monkeypatch.setattr(data, "READ_CHUNK", 5)  # chunks of 5 frames and ends at keyframes
    np.testing.assert_array_equal(read_video_frames(path, 24, 3), whole)
    assert whole.shape == (30, 3, 24, 24)
