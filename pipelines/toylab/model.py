"""The toy-lab model: the real Qwen2-VL architecture (vision tower, merger, M-RoPE language model)
shrunk to ~2M parameters, with a byte-level tokenizer and the real Qwen2-VL processors.

Frames are resized to at most 1024 pixels in multiples of 16 (``max_pixels``; a 4:3 video becomes
16x32) and cut into 8x8 patches, two frames per temporal patch, 2x2 patches merged: 2 visual
tokens per pair of 4:3 frames. The chat template is
Qwen2-VL's without the default system prompt (fewer text tokens for attention to wade through);
the checkpoint's ``vlmctx.json`` turns the text time prefix off (the model reads time from
M-RoPE's temporal ids, one per frame pair, at 1 fps).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vlmctx.models.tinykit import QWEN_SPECIALS, build_tokenizer

PATCH, MERGE, TEMPORAL = 8, 2, 2
WIDTH, HEIGHT = 32, 32  # the pixel budget per frame (smart_resize keeps the aspect ratio)
MAX_PIXELS = WIDTH * HEIGHT
ROPE_THETA = 10_000.0

TEXT = dict(
    hidden_size=128,
    intermediate_size=384,
    num_hidden_layers=4,
    num_attention_heads=4,
    num_key_value_heads=2,
    rms_norm_eps=1e-6,
    tie_word_embeddings=False,
)
VISION = dict(
    depth=2,
    embed_dim=64,
    hidden_size=128,
    num_heads=4,
    mlp_ratio=2,
    patch_size=PATCH,
    spatial_merge_size=MERGE,
    temporal_patch_size=TEMPORAL,
)


def build_processor(frame_pixels: int = MAX_PIXELS) -> Any:
    """Byte-level tokenizer + the real Qwen2-VL image/video processors at 8x8 patches; frames are
    resized to at most ``frame_pixels`` pixels (the default: 1 visual token per frame)."""
    from transformers import Qwen2VLImageProcessor, Qwen2VLProcessor, Qwen2VLVideoProcessor

    tok = build_tokenizer(
        QWEN_SPECIALS,
        {"image_token": "<|image_pad|>", "video_token": "<|video_pad|>"},
        eos="<|im_end|>",
        pad="<|endoftext|>",
    )
    size = {"shortest_edge": 16 * 16, "longest_edge": frame_pixels}
    common = dict(size=size, patch_size=PATCH, merge_size=MERGE, temporal_patch_size=TEMPORAL)
    return Qwen2VLProcessor(
        image_processor=Qwen2VLImageProcessor(**common),
        tokenizer=tok,
        video_processor=Qwen2VLVideoProcessor(**common, cap_pixels_per_frame=True),
        chat_template=(Path(__file__).parent / "chat_template.jinja").read_text(),
    )


def build_model(processor: Any, window: int, rope_theta: float = ROPE_THETA) -> Any:
    """A randomly initialised Qwen2VLForConditionalGeneration; ``window`` becomes
    ``max_position_embeddings`` (the position range seen in training)."""
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration

    tok = processor.tokenizer
    text = dict(
        TEXT,
        vocab_size=len(tok),
        max_position_embeddings=window,
        bos_token_id=None,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        rope_parameters={
            "rope_type": "default",
            "rope_theta": rope_theta,
            "mrope_section": [4, 6, 6],
        },
    )
    ids = tok.convert_tokens_to_ids
    cfg = Qwen2VLConfig(
        text_config=text,
        vision_config=VISION,
        image_token_id=ids("<|image_pad|>"),
        video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"),
        vision_end_token_id=ids("<|vision_end|>"),
    )
    model = Qwen2VLForConditionalGeneration(cfg)
    model.generation_config.pad_token_id = tok.pad_token_id
    model.generation_config.eos_token_id = tok.eos_token_id
    return model
