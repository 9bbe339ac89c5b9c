"""LLaVA-OneVision adapter (arXiv 2408.03326): SigLIP + Qwen2 with 1-D RoPE.

Video frames are encoded at the base resolution and bilinearly pooled 2x2 by the model, followed by
one newline embedding per video; timestamps go into the prompt (LLaVA-Video's time instruction).

Visual window (VCWE's default): 6272 = 32 frames x 196 tokens, the video stage of LLaVA-OneVision
(arXiv 2408.03326) and the value the VCWE paper uses for its LLaVA-OneVision experiments.
"""

from __future__ import annotations

from typing import Any

from vlmctx.models.base import ADAPTERS, Adapter, Loaded, VisualFeatures
from vlmctx.models.tiny import TEMPLATES, build_tokenizer, text_config


@ADAPTERS.register(
    "llava_onevision", summary="LLaVA-OneVision (1-D RoPE; llava-onevision-qwen2-0.5b-ov-hf)"
)
class LlavaOnevisionAdapter(Adapter):
    family = "llava_onevision"
    model_types = ("llava_onevision",)
    default_checkpoint = "llava-hf/llava-onevision-qwen2-0.5b-ov-hf"
    time_prefix = True
    visual_window = 6272

    def visual_features(self, loaded: Loaded, inputs: Any) -> VisualFeatures:
        cfg = loaded.model.config
        px = inputs["pixel_values_videos"]
        feats = loaded.model.model.get_video_features(
            px,
            vision_feature_layer=cfg.vision_feature_layer,
            vision_feature_select_strategy=cfg.vision_feature_select_strategy,
        ).pooler_output[0]  # (frames * s * s + 1, d): frame tokens then one newline
        frames = px.shape[1]
        side = int(round(((feats.shape[0] - 1) // frames) ** 0.5))
        return VisualFeatures(feats[:-1].reshape(frames, side, side, -1), feats[-1])

    def pooled_visual_tokens(
        self, config: Any, inputs: Any, frames: int, visual: int, pooler: Any
    ) -> int:
        # the trailing newline embedding is kept as it is
        return super().pooled_visual_tokens(config, inputs, frames, visual - 1, pooler) + 1

    def build_tiny(self) -> tuple[Any, Any]:
        from transformers import (
            LlavaOnevisionConfig,
            LlavaOnevisionForConditionalGeneration,
            LlavaOnevisionImageProcessor,
            LlavaOnevisionProcessor,
            LlavaOnevisionVideoProcessor,
        )

        specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>", "<video>"]
        tok = build_tokenizer(
            specials,
            {"image_token": "<image>", "video_token": "<video>"},
            "<|im_end|>",
            "<|endoftext|>",
        )
        side = 56  # 4x4 patches of 14 -> 16 image tokens; video frames pooled 2x2 -> 4 (+1 newline)
        vision = dict(
            model_type="siglip_vision_model",
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            image_size=side,
            patch_size=14,
        )
        cfg = LlavaOnevisionConfig(
            text_config=dict(text_config(tok), model_type="qwen2"),
            vision_config=vision,
            image_token_index=tok.convert_tokens_to_ids("<image>"),
            video_token_index=tok.convert_tokens_to_ids("<video>"),
            image_grid_pinpoints=[
                [side, side],
                [side, 2 * side],
                [2 * side, side],
                [2 * side, 2 * side],
            ],
            vision_feature_select_strategy="full",
            vision_feature_layer=-1,
        )
        img = LlavaOnevisionImageProcessor(
            size={"height": side, "width": side}, image_grid_pinpoints=cfg.image_grid_pinpoints
        )
        vid = LlavaOnevisionVideoProcessor(size={"height": side, "width": side})
        proc = LlavaOnevisionProcessor(
            image_processor=img,
            tokenizer=tok,
            video_processor=vid,
            num_image_tokens=(side // 14) ** 2,
            vision_feature_select_strategy="full",
            chat_template=(TEMPLATES / "llava_onevision.jinja").read_text(),
        )
        return LlavaOnevisionForConditionalGeneration(cfg), proc
