"""The shipped far-shapes checkpoint and the `train-far` / `generate` commands."""

import argparse

import av
import pytest
import torch

from vlmctx.errors import ConfigError, UnsupportedModelError, VideoNotFoundError
from vlmctx.far import RolloutConfig, load_model, shipped_models
from vlmctx.far.checkpoint import SHIPPED_DIR
from vlmctx.far.data import shapes_sequence
from vlmctx_eval.tasks.videogen import evaluate_prediction, psnr, ssim
from vlmctx_pipelines.far.cli import register_generate, register_train
from vlmctx_pipelines.far.video_io import write_video


def _parse(argv):
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    register_train(sub)
    register_generate(sub)
    return parser.parse_args(argv)


def test_metrics_sanity():
    x = torch.rand(2, 3, 1, 16, 16) * 2 - 1
    assert torch.allclose(ssim(x, x), torch.ones(2, 3), atol=1e-4)
    assert (psnr(x, x) > 90).all()
    assert (psnr(x, -x) < psnr(x, x * 0.9)).all()


def test_shipped_checkpoint_is_small():
    assert "far-shapes" in shipped_models()
    size = sum(p.stat().st_size for p in (SHIPPED_DIR / "far-shapes").iterdir())
    assert size <= 20 * 2**20


def test_shipped_checkpoint_beats_copy_last_frame():
    torch.set_num_threads(2)
    model, _ = load_model("far-shapes")
    r = evaluate_prediction(model, n_clips=8, context=8, horizon=6, rc=RolloutConfig(steps=10))
    assert sum(r.psnr) > sum(r.copy_last_psnr) + 6 * 1.0  # >= 1 dB better on average


def test_generate_from_context_video(tmp_path):
    frames, _ = shapes_sequence(7, 8)
    ctx = write_video(torch.from_numpy(frames), tmp_path / "ctx.mp4", scale=4)
    out = tmp_path / "out.gif"
    args = _parse(
        [
            "generate",
            "--context",
            str(ctx),
            "--frames",
            "3",
            "--steps",
            "2",
            "-o",
            str(out),
            "--include-context",
            "--flexrope",
            "0.1",
        ]
    )
    assert args.func(args) == 0
    with av.open(str(out)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 8 + 3
    mp4 = tmp_path / "out.mp4"
    args = _parse(["generate", "--frames", "2", "--steps", "2", "-o", str(mp4)])
    assert args.func(args) == 0 and mp4.stat().st_size > 0


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["generate", "--model", "nope", "--frames", "2", "-o", "x.gif"], UnsupportedModelError),
        (
            ["generate", "--context", "/no/such.mp4", "--frames", "2", "-o", "x.gif"],
            VideoNotFoundError,
        ),
        (["generate", "--frames", "0", "-o", "x.gif"], ConfigError),
        (["generate", "--frames", "2", "-o", "x.avi"], ConfigError),
        (["generate", "--frames", "2", "--label", "1", "-o", "x.gif"], ConfigError),
        (["train-far", "-o", "x", "--steps", "0"], ConfigError),
    ],
)
def test_bad_cli_input_raises_vlmctx_errors(argv, error):
    """A bad value is refused: by argparse's one-line error (exit 2) where the flag's type
    checks it, else by the command with a VlmctxError."""
    try:
        args = _parse(argv)
    except SystemExit as exc:
        assert exc.code == 2
        return
    with pytest.raises(error):
        args.func(args)


def test_train_far_cli_writes_a_loadable_checkpoint(tmp_path):
    out = tmp_path / "ck"
    args = _parse(
        [
            "train-far",
            "-o",
            str(out),
            "--preset",
            "tiny",
            "--steps",
            "2",
            "--batch",
            "2",
            "--max-len",
            "5",
            "--threads",
            "1",
        ]
    )
    assert args.func(args) == 0
    model, info = load_model(out)
    assert info["step"] == 2 and model.cfg.window == 4


def test_cli_choices_equal_the_library_names():
    """The parser spells out the presets and layouts (so `vlmctx --help` need not import torch):
    they must stay the library's."""
    from vlmctx.far.config import PRESETS
    from vlmctx.far.rollout import LAYOUTS
    from vlmctx_pipelines.far import cli

    assert sorted(cli.PRESETS) == sorted(PRESETS)
    assert tuple(cli.LAYOUTS) == tuple(LAYOUTS)
