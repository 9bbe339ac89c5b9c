"""Registry validation, the one "did you mean", names written once, and ContextConfig round trips
(the command-line side: tests/cli/test_context_args.py)."""

from __future__ import annotations

from typing import ClassVar

import pytest
import yaml

from vlmctx.config import ContextConfig, parse_kv
from vlmctx.errors import ConfigError
from vlmctx.registry import Registry, did_you_mean


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
    assert ContextConfig.from_yaml(yaml.safe_dump(cfg.to_dict(), sort_keys=True)) == cfg
    with pytest.raises(AttributeError):  # FrozenInstanceError
        cfg.sampler = "uniform"  # type: ignore[misc]
    with pytest.raises(TypeError):
        cfg.sampler_params["fps"] = 2  # type: ignore[index]


def test_parse_kv_and_unknown_fields() -> None:
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


def test_did_you_mean_is_one_helper_with_its_formats() -> None:
    assert did_you_mean("unifrom", ["uniform", "fps"]) == " (did you mean 'uniform'?)"
    assert did_you_mean("zzz", ["uniform", "fps"]) == ""
    many = did_you_mean("tiny-qwen", ["tiny-qwen2", "tiny-qwen3", "x"], n=3, cutoff=0.5,
                        template="; did you mean {}?", quote=False)  # fmt: skip
    assert many == "; did you mean tiny-qwen3, tiny-qwen2?"  # closest first, ties by difflib


def test_a_class_declaring_name_gets_it_from_register() -> None:
    """The registry name is written once: ``name: ClassVar[str]`` is filled by ``register``;
    a class that sets its own ``name`` (or declares none) is left alone."""
    reg: Registry = Registry("widget")

    @reg.register("token_budget")
    class Declared:
        name: ClassVar[str]

    @reg.register("own")
    class Own:
        name = "kept"

    assert Declared.name == "token_budget" and Declared().name == "token_budget"
    assert Own.name == "kept"
    from vlmctx.video import SAMPLERS

    assert all(
        SAMPLERS.get(n).name == n for n in SAMPLERS.names() if isinstance(SAMPLERS.get(n), type)
    )
    with pytest.raises(ConfigError, match="Did you mean 'token_budget'"):  # the old name
        SAMPLERS.create("budget")
