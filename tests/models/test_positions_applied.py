"""Position schemes applied to real tiny models of all four families through the adapters."""

from __future__ import annotations

import pytest
import torch

from tests.models.conftest import load_setup
from vlmctx.config import ContextConfig
from vlmctx.engine import VideoLM
from vlmctx.errors import UnsupportedModelError
from vlmctx.models.positioning import applied
from vlmctx.position import POSITIONS, identity_params

# Every registered scheme declares its identity parameters; a new scheme cannot escape this test.
IDENTITY = {name: identity_params(name) for name in POSITIONS.names()}
STRETCHED = {
    "pi": {"factor": 4.0},
    "ntk": {"factor": 4.0},
    "yarn": {"factor": 4.0},
    "entropy_abf": {},
    "vcwe": {"visual_window": 8},
    "vcwe_visual": {"visual_window": 8, "apply_to": "visual"},
    "v2pe": {"delta": 0.25},
    "mrope_pp": {"factor": 4.0},
}


@pytest.fixture(scope="module")
def setup(family: str):
    return load_setup(family, 4)


def _cfg(name: str, params: dict) -> ContextConfig:
    return ContextConfig(position=name.split("_visual")[0], position_params=params)


def _applies(lm: VideoLM, name: str) -> bool:
    return lm.adapter.positions.mrope or not POSITIONS.get(name.split("_visual")[0]).requires_mrope


@pytest.mark.parametrize("name", sorted(IDENTITY))
def test_identity_settings_reproduce_the_unpatched_logits(setup, name: str) -> None:
    lm, inputs, ref = setup
    if not _applies(lm, name):
        with pytest.raises(UnsupportedModelError):
            lm.with_config(_cfg(name, IDENTITY[name]))
        return
    original = lm.loaded.model.model.language_model.rotary_emb
    with torch.inference_mode(), applied(lm.loaded, inputs, _cfg(name, IDENTITY[name])) as extra:
        extra.pop("_position_info", None)
        assert "attention_mask" in inputs  # always passed with float ids
        out = lm.loaded.model(**inputs, **extra).logits
    assert torch.equal(out, ref)
    assert lm.loaded.model.model.language_model.rotary_emb is original  # restored


def _recompute_greedy(model, inputs, position_ids, steps: int) -> torch.Tensor:
    """Greedy decoding that re-runs the whole sequence each step (no KV cache), always with an
    explicit attention mask and explicit position ids (new tokens continue at last id + 1)."""
    ids, pos = inputs["input_ids"], position_ids
    extra = {k: v for k, v in inputs.items() if k not in ("input_ids", "attention_mask")}
    for _ in range(steps):
        if "mm_token_type_ids" in extra:
            pad = ids.shape[1] - extra["mm_token_type_ids"].shape[1]
            extra["mm_token_type_ids"] = torch.nn.functional.pad(
                extra["mm_token_type_ids"], (0, pad)
            )
        logits = model(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            position_ids=pos,
            use_cache=False,
            **extra,
        ).logits
        nxt = logits[:, -1].argmax(-1, keepdim=True)
        ids = torch.cat([ids, nxt], dim=1)
        pos = torch.cat([pos, pos[..., -1:] + 1], dim=-1)
    return ids


@pytest.mark.parametrize("name", sorted(STRETCHED))
def test_schemes_change_logits_and_cached_generate_equals_recompute(setup, name: str) -> None:
    lm, inputs, ref = setup
    if not _applies(lm, name):
        return
    cfg = _cfg(name, STRETCHED[name])
    model = lm.loaded.model
    with torch.inference_mode(), applied(lm.loaded, inputs, cfg) as extra:
        info = extra.pop("_position_info")
        out = model(**inputs, **extra).logits
        assert not torch.allclose(out, ref), f"{name} did not change the logits"
        assert info, "the scheme's parameters are reported"
        cached = model.generate(
            **inputs,
            **extra,
            max_new_tokens=4,
            do_sample=False,
            use_cache=True,
            pad_token_id=lm.loaded.processor.tokenizer.pad_token_id,
        )
        full = _recompute_greedy(model, inputs, extra["position_ids"], 4)
    assert torch.equal(cached, full)


def test_scheme_is_recorded_in_the_answer(setup) -> None:
    from vlmctx.runtime.assets import sample_video

    lm, _, _ = setup
    cfg = ContextConfig(sampler_params={"n": 4}, position="v2pe", position_params={"delta": 0.5})
    ans = lm.with_config(cfg).ask(sample_video(), "What?", max_new_tokens=2)
    assert ans.config["position"] == "v2pe"
    assert ans.extra["position"]["delta"] == 0.5


def test_every_scheme_is_covered() -> None:
    """A new scheme must declare identity parameters and get a stretched setting here."""
    assert set(POSITIONS.names()) - {"default"} <= {n.split("_visual")[0] for n in STRETCHED}
    for name in POSITIONS.names():
        assert isinstance(POSITIONS.get(name).requires_mrope, bool)
