"""Registry validation and ContextConfig round trips."""

from __future__ import annotations

import argparse

import pytest

from vlmctx.config import ContextConfig, add_context_args, context_from_args, parse_kv
from vlmctx.errors import ConfigError
from vlmctx.registry import Registry


def _reg() -> Registry:
    reg: Registry = Registry("widget")

    @reg.register("uniform", summary="spread evenly")
    def uniform(n: int, jitter: float = 0.0) -> tuple:
        if n < 1:
            raise ValueError("n must be >= 1")
        return ("uniform", n, jitter)

    return reg


def test_registry_create_validates_names_and_params() -> None:
    reg = _reg()
    assert reg.create("uniform", n=3) == ("uniform", 3, 0.0)
    with pytest.raises(ConfigError, match="Did you mean 'uniform'"):
        reg.create("unifrom", n=3)
    with pytest.raises(ConfigError, match="no parameter"):
        reg.create("uniform", n=3, bogus=1)
    with pytest.raises(ConfigError, match="needs parameter"):
        reg.create("uniform")
    with pytest.raises(ConfigError, match="n must be"):
        reg.create("uniform", n=0)


def test_context_config_round_trips() -> None:
    cfg = ContextConfig(
        sampler="fps",
        sampler_params={"fps": 1.0, "max_frames": 64},
        max_pixels=50176,
        position="default",
    )
    assert ContextConfig.from_dict(cfg.to_dict()) == cfg
    assert ContextConfig.from_json(cfg.to_json()) == cfg
    assert ContextConfig.from_yaml(cfg.to_yaml()) == cfg
    parser = argparse.ArgumentParser()
    add_context_args(parser)
    assert context_from_args(parser.parse_args(cfg.to_cli_args())) == cfg
    with pytest.raises(AttributeError):  # FrozenInstanceError
        cfg.sampler = "uniform"  # type: ignore[misc]
    with pytest.raises(TypeError):
        cfg.sampler_params["fps"] = 2  # type: ignore[index]


def test_cli_shortcuts_and_unknown_fields() -> None:
    parser = argparse.ArgumentParser()
    add_context_args(parser)
    cfg = context_from_args(parser.parse_args(["--fps", "2", "--frames", "32"]))
    assert cfg.sampler == "fps" and dict(cfg.sampler_params) == {"fps": 2.0, "max_frames": 32}
    cfg = context_from_args(parser.parse_args(["--frames", "8"]))
    assert cfg.sampler == "uniform" and dict(cfg.sampler_params) == {"n": 8}
    assert parse_kv(["a=1", "b=x", "c=true", "d=[1,2]"]) == {
        "a": 1,
        "b": "x",
        "c": True,
        "d": [1, 2],
    }
    with pytest.raises(ConfigError):
        parse_kv(["novalue"])
    with pytest.raises(ConfigError, match="unknown ContextConfig field"):
        ContextConfig.from_dict({"sampler": "uniform", "smapler_params": {}})
