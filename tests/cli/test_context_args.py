"""The command-line side of ContextConfig: flags -> config, and back (``vlmctx.cli.context_args``)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from vlmctx.cli.context_args import add_context_args, context_from_args
from vlmctx.config import ContextConfig


def _kv(key: str, value: Any) -> str:
    return f"{key}={json.dumps(value) if not isinstance(value, str) else value}"


def to_cli_args(cfg: ContextConfig) -> list[str]:
    """The flags that rebuild ``cfg`` through :func:`add_context_args` (a test helper: the library
    never needs to write flags, only to read them)."""
    args = ["--sampler", cfg.sampler, "--backend", cfg.backend]
    args += [a for k, v in cfg.sampler_params.items() for a in ("--sampler-arg", _kv(k, v))]
    if cfg.max_pixels is not None:
        args += ["--max-pixels", str(cfg.max_pixels)]
    args += ["--pooling", cfg.pooling]
    args += [a for k, v in cfg.pooling_params.items() for a in ("--pooling-arg", _kv(k, v))]
    args += ["--position", cfg.position]
    args += [a for k, v in cfg.position_params.items() for a in ("--position-arg", _kv(k, v))]
    return args


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    add_context_args(parser)
    return parser


def test_flags_round_trip() -> None:
    cfg = ContextConfig(
        sampler="fps",
        sampler_params={"fps": 1.0, "max_frames": 64},
        max_pixels=50176,
        pooling="uniform",
        pooling_params={"kernel": 2},
        position="default",
    )
    assert context_from_args(_parser().parse_args(to_cli_args(cfg))) == cfg


def test_cli_shortcuts() -> None:
    cfg = context_from_args(_parser().parse_args(["--fps", "2", "--frames", "32"]))
    assert cfg.sampler == "fps" and dict(cfg.sampler_params) == {"fps": 2.0, "max_frames": 32}
    cfg = context_from_args(_parser().parse_args(["--frames", "8"]))
    assert cfg.sampler == "uniform" and dict(cfg.sampler_params) == {"n": 8}
