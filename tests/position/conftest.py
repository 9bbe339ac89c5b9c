"""Tiny Qwen2-VL / Qwen2.5-VL models from shrunk configs (no download) for position tests."""

from __future__ import annotations

import pytest
import torch

TEXT = dict(
    vocab_size=96,
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=2,
    num_key_value_heads=1,
    max_position_embeddings=512,
    bos_token_id=0,
    eos_token_id=1,
    pad_token_id=2,
)
ROPE = {"rope_type": "default", "rope_theta": 10_000.0, "mrope_section": [4, 6, 6]}
IDS = dict(image_token_id=90, video_token_id=91, vision_start_token_id=92, vision_end_token_id=93)


@pytest.fixture(scope="module")
def qwen2_vl():
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration

    torch.manual_seed(0)
    cfg = Qwen2VLConfig(
        text_config=dict(TEXT, rope_parameters=dict(ROPE)),
        vision_config=dict(depth=1, embed_dim=32, hidden_size=64, num_heads=2, mlp_ratio=2),
        **IDS,
    )
    return Qwen2VLForConditionalGeneration(cfg).eval()


@pytest.fixture(scope="module")
def qwen2_5_vl():
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    torch.manual_seed(0)
    vision = dict(
        depth=1,
        hidden_size=32,
        intermediate_size=64,
        num_heads=2,
        out_hidden_size=64,
        fullatt_block_indexes=[0],
        window_size=56,
        tokens_per_second=2,
    )
    cfg = Qwen2_5_VLConfig(
        text_config=dict(TEXT, rope_parameters=dict(ROPE)), vision_config=vision, **IDS
    )
    return Qwen2_5_VLForConditionalGeneration(cfg).eval()
