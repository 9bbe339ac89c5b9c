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
    "qwen3_5": [f"Qwen/Qwen3.5-{s}" for s in ("0.8B", "4B", "9B", "27B", "35B-A3B")],
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
    assert t["head_dim"] in (64, 128, 256)  # 64: the 0.5B Qwen2 backbones; 256: Qwen3.5
    rotary = int(t["head_dim"] * t["partial_rotary_factor"])  # Qwen3.5 rotates 64 of 256
    if t["mrope_section"] is not None:
        assert len(t["mrope_section"]) == 3 and sum(t["mrope_section"]) == rotary // 2
    if t["layer_types"] is not None:  # a hybrid names every layer, full attention included
        assert len(t["layer_types"]) == t["num_hidden_layers"]
        assert set(t["layer_types"]) == {"linear_attention", "full_attention"}
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
        assert getattr(text, key, None) == c.text[key]  # MoE: no intermediate_size
    assert text.rope_parameters["rope_theta"] == c.text["rope_theta"]
    assert verify(c, cfg) == []  # a config equal to the card shows no difference


def test_verify_reports_a_difference() -> None:
    c = card("Qwen/Qwen2-VL-7B-Instruct")
    real = c.hf_config().to_dict()
    real["text_config"]["num_key_value_heads"] = 8
    assert verify(c, real) == ["text_config.num_key_value_heads: card 4, checkpoint 8"]


def test_qwen3_5_cards_match_the_configs_transformers_mirrors() -> None:
    """transformers 5.24's Qwen3.5 config defaults name the checkpoint they mirror: the text
    defaults are "the Qwen3.5-9B style configuration", the vision defaults the 27B's tower
    (depth 27, width 1152). The cards agree with them on every field they share, layer
    pattern included; the 0.8B card differs (a real difference is reported)."""
    import transformers

    text = transformers.Qwen3_5TextConfig().to_dict()
    vision = transformers.Qwen3_5VisionConfig().to_dict()
    shared = (
        "hidden_size",
        "intermediate_size",
        "num_hidden_layers",
        "num_attention_heads",
        "num_key_value_heads",
        "head_dim",
        "vocab_size",
        "layer_types",
        "linear_conv_kernel_dim",
        "linear_key_head_dim",
        "linear_value_head_dim",
        "linear_num_key_heads",
        "linear_num_value_heads",
    )
    nine = {"text_config": {k: text[k] for k in shared}}
    assert verify(card("Qwen/Qwen3.5-9B"), nine) == []
    assert "text_config.hidden_size: card 1024, checkpoint 4096" in verify(
        card("Qwen/Qwen3.5-0.8B"), nine
    )
    tower = (
        "depth",
        "hidden_size",
        "intermediate_size",
        "num_heads",
        "patch_size",
        "spatial_merge_size",
        "temporal_patch_size",
        "num_position_embeddings",
    )
    assert verify(card("Qwen/Qwen3.5-27B"), {"vision_config": {k: vision[k] for k in tower}}) == []
    moe = transformers.Qwen3_5MoeTextConfig().to_dict()  # "the Qwen3.5-35B-A3B style"
    experts = (
        "num_experts",
        "num_experts_per_tok",
        "moe_intermediate_size",
        "shared_expert_intermediate_size",
    )
    a3b = {"text_config": {k: moe[k] for k in shared + experts if k != "intermediate_size"}}
    assert verify(card("Qwen/Qwen3.5-35B-A3B"), a3b) == []


@pytest.mark.parametrize("c", [c for c in CARDS if c.family == "qwen3_5"], ids=lambda c: c.hub_id)
def test_qwen3_5_card_plans_offline(c: Card, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each Qwen3.5 card plans with no hub access: KV only for the full-attention layers, and
    the Gated DeltaNet layers' fixed state from the card's linear-attention dims."""
    from vlmctx.planner import plan_memory

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    plan = plan_memory(c.hub_id, 4, (224, 224), "Q?", "bfloat16")
    t = c.config["text_config"]
    full = t["layer_types"].count("full_attention")
    linear = t["num_hidden_layers"] - full
    assert plan.visual_tokens == 2 * 7 * 7  # 4 frames -> 2 pairs of 7x7 merged tokens
    assert plan.kv_cache_bytes == plan.total_tokens * 2 * full * t["num_key_value_heads"] * 256 * 2
    key, value = 16 * 128, t["linear_num_value_heads"] * 128
    conv = (2 * key + value) * 4 * 2  # conv state in bf16
    recurrent = t["linear_num_value_heads"] * 128 * 128 * 4  # delta-rule state in fp32
    assert plan.state_bytes == linear * (conv + recurrent)
    assert plan.weight_bytes == c.parameters * 2
    experts = c.text["moe"]  # a mixture of experts: 8 routed experts + the shared one per token
    width = c.text["intermediate_size"] or 8 * 512 + 512
    assert experts is None or width == experts["num_experts_per_tok"] * 512 + 512
    assert plan.activation_bytes == plan.total_tokens * 2 * (4 * t["hidden_size"] + 3 * width)


SMALL = [c for c in CARDS if c.parameters < 3e9]


@pytest.mark.parametrize("c", SMALL[:2], ids=[c.hub_id for c in SMALL[:2]])
def test_parameter_count_equals_meta_model(c: Card) -> None:
    assert c.count_parameters() == c.parameters


@pytest.mark.slow
@pytest.mark.parametrize("c", CARDS, ids=IDS)
def test_parameter_count_equals_meta_model_all(c: Card) -> None:
    assert c.count_parameters() == c.parameters
