"""Card facts checked against the published configs (issue 26, item 5), and ``cards.verify``
covering them, also when a config.json uses the older field names."""

from __future__ import annotations

import pytest

from vlmctx.models.cards import card, verify

QWEN_BIG = ("Qwen/Qwen2.5-VL-32B-Instruct", "Qwen/Qwen2.5-VL-72B-Instruct")
INTERNVIT_300M = (
    "OpenGVLab/InternVL3-1B-hf",
    "OpenGVLab/InternVL3-2B-hf",
    "OpenGVLab/InternVL3-8B-hf",
    "OpenGVLab/InternVL3-14B-hf",
)
INTERNVIT_6B = ("OpenGVLab/InternVL3-38B-hf", "OpenGVLab/InternVL3-78B-hf")


@pytest.mark.parametrize("hub_id", QWEN_BIG)
def test_qwen2_5_vl_32b_72b_vision_mlp_is_3456(hub_id: str) -> None:
    c = card(hub_id)
    assert c.vision["intermediate_size"] == 3456
    assert c.hf_config().vision_config.intermediate_size == 3456
    assert verify(c, {"vision_config": {"intermediate_size": 3456}}) == []
    assert verify(c, {"vision_config": {"intermediate_size": 3420}}) == [
        "vision_config.intermediate_size: card 3456, checkpoint 3420"
    ]


def test_qwen2_5_vl_small_sizes_keep_3420() -> None:
    for hub_id in ("Qwen/Qwen2.5-VL-3B-Instruct", "Qwen/Qwen2.5-VL-7B-Instruct"):
        assert card(hub_id).vision["intermediate_size"] == 3420


@pytest.mark.parametrize("hub_id", INTERNVIT_300M + INTERNVIT_6B)
def test_internvl3_text_rope_is_dynamic_factor_2(hub_id: str) -> None:
    c = card(hub_id)
    rope = c.hf_config().text_config.rope_parameters
    assert (rope["rope_type"], rope["factor"], rope["rope_theta"]) == ("dynamic", 2.0, 1e6)
    published = {
        "rope_scaling": {"factor": 2.0, "rope_type": "dynamic", "type": "dynamic"},
        "rope_theta": 1000000.0,
    }
    assert verify(c, {"text_config": published}) == []
    assert verify(c, {"llm_config": published}) == []  # InternVL's own config.json name
    assert verify(c, {"text_config": {"rope_scaling": None, "rope_theta": 1000000.0}}) == [
        "text_config.rope_parameters.rope_type: card 'dynamic', checkpoint 'default'"
    ]


@pytest.mark.parametrize("hub_id", INTERNVIT_300M)
def test_internvit_300m_has_qkv_bias(hub_id: str) -> None:
    c = card(hub_id)
    assert c.vision["attention_bias"] is True
    assert verify(c, {"vision_config": {"qkv_bias": True}}) == []  # InternVL's own name
    assert verify(c, {"vision_config": {"attention_bias": False}}) == [
        "vision_config.attention_bias: card True, checkpoint False"
    ]


@pytest.mark.parametrize("hub_id", INTERNVIT_6B)
def test_internvit_6b_has_no_qkv_bias(hub_id: str) -> None:
    assert card(hub_id).vision["attention_bias"] is False


def test_qwen2_vl_style_mrope_scaling_reads_as_default() -> None:
    c = card("Qwen/Qwen2.5-VL-7B-Instruct")
    old = {"rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]}, "rope_theta": 1e6}
    assert verify(c, {"text_config": old}) == []
