"""Architecture cards: every card is internally consistent, sourced, and builds the real HF
config; parameter counts equal the real model class on the meta device (slow for the big ones)."""

from __future__ import annotations

import pytest

from vlmctx.errors import UnsupportedModelError
from vlmctx.models.cards import _GROUPS, Card, card, cards, verify

CARDS = cards()
IDS = [c.hub_id for c in CARDS]
REQUIRED = {
    "qwen2_vl": [
        "Qwen/Qwen2-VL-2B-Instruct",
        "Qwen/Qwen2-VL-7B-Instruct",
        "Qwen/Qwen2-VL-72B-Instruct",
    ],
    "qwen2_5_vl": [f"Qwen/Qwen2.5-VL-{s}-Instruct" for s in ("3B", "7B", "32B", "72B")],
    "llava_onevision": [f"llava-hf/llava-onevision-qwen2-{s}-ov-hf" for s in ("0.5b", "7b", "72b")],
    "internvl": [f"OpenGVLab/InternVL3-{s}-hf" for s in ("1B", "2B", "8B", "14B", "38B", "78B")],
    "qwen3_vl": [f"Qwen/Qwen3-VL-{s}-Instruct" for s in ("2B", "4B", "8B", "32B")],
}


def test_every_required_checkpoint_has_a_card() -> None:
    for family, ids in REQUIRED.items():
        for hub_id in ids:
            assert card(hub_id).family == family
    assert card("qwen/qwen2-vl-7b-instruct").hub_id == "Qwen/Qwen2-VL-7B-Instruct"


def test_unknown_id_says_what_is_known() -> None:
    with pytest.raises(UnsupportedModelError, match="did you mean Qwen/Qwen2-VL-7B-Instruct"):
        card("Qwen/Qwen2-VL-7B-Instruc")


@pytest.mark.parametrize("c", CARDS, ids=IDS)
def test_card_is_consistent(c: Card) -> None:
    t = c.text
    assert t["num_attention_heads"] % t["num_key_value_heads"] == 0
    if "head_dim" not in c.config["text_config"]:  # derived: must divide exactly
        assert t["head_dim"] * t["num_attention_heads"] == t["hidden_size"]
    assert t["head_dim"] in (64, 128)  # 64: the 0.5B Qwen2 backbones (896 / 14)
    if t["mrope_section"] is not None:
        assert len(t["mrope_section"]) == 3 and sum(t["mrope_section"]) == t["head_dim"] // 2
    assert c.trained_context <= t["max_position_embeddings"]
    assert c.visual_window is None or 0 < c.visual_window <= c.trained_context
    v = c.vision
    heads = v.get("num_heads", v.get("num_attention_heads"))
    width = v.get("embed_dim", v.get("hidden_size"))
    if "embed_dim" in v:  # Qwen2-VL: vision hidden_size is the merger's output (the LM's)
        assert v["hidden_size"] == t["hidden_size"]
    if "out_hidden_size" in v:
        assert v["out_hidden_size"] == t["hidden_size"]
    assert width % heads == 0
    for idx in v.get("fullatt_block_indexes", []) + v.get("deepstack_visual_indexes", []):
        assert 0 <= idx < v["depth"]
    if "window_size" in v:  # window attention works on whole merged cells
        assert v["window_size"] % (v["patch_size"] * v["spatial_merge_size"]) == 0
    proc_tp = c.processor["video_processor"][1].get("temporal_patch_size")
    assert proc_tp in (None, v.get("temporal_patch_size"))


@pytest.mark.parametrize("c", CARDS, ids=IDS)
def test_every_number_has_a_source(c: Card) -> None:
    assert set(_GROUPS) <= set(c.sources)
    for group in _GROUPS:
        src = c.source_of(group)
        assert src and "{" not in src, src
    if c.visual_window is None:
        assert c.sources["visual_window"].startswith("unknown")
    for key in c.unconfirmed:
        assert key.split(".")[0] in _GROUPS
        assert "[unconfirmed" in c.source_of(key)


@pytest.mark.parametrize("c", CARDS, ids=IDS)
def test_card_builds_the_real_config(c: Card) -> None:
    cfg = c.hf_config()
    text = cfg.get_text_config()
    for key in ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size"):
        assert getattr(text, key) == c.text[key]
    assert text.rope_parameters["rope_theta"] == c.text["rope_theta"]
    assert verify(c, cfg) == []  # a config equal to the card shows no difference


def test_verify_reports_a_difference() -> None:
    c = card("Qwen/Qwen2-VL-7B-Instruct")
    real = c.hf_config().to_dict()
    real["text_config"]["num_key_value_heads"] = 8
    assert verify(c, real) == ["text_config.num_key_value_heads: card 4, checkpoint 8"]


SMALL = [c for c in CARDS if c.parameters < 3e9]


@pytest.mark.parametrize("c", SMALL[:2], ids=[c.hub_id for c in SMALL[:2]])
def test_parameter_count_equals_meta_model(c: Card) -> None:
    assert c.count_parameters() == c.parameters


@pytest.mark.slow
@pytest.mark.parametrize("c", CARDS, ids=IDS)
def test_parameter_count_equals_meta_model_all(c: Card) -> None:
    assert c.count_parameters() == c.parameters
