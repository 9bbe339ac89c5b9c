"""LLaVA-OneVision adapter (arXiv 2408.03326): SigLIP + Qwen2 with 1-D RoPE.

Video frames are encoded at the base resolution and bilinearly pooled 2x2 by the model, followed by
one newline embedding per video; timestamps go into the prompt (LLaVA-Video's time instruction).

Visual window (VCWE's default): 6272 = 32 frames x 196 tokens, the video stage of LLaVA-OneVision
(arXiv 2408.03326) and the value the VCWE paper uses for its LLaVA-OneVision experiments.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vlmctx.models.common import (
    ChatPrompting,
    EmbedsPooled,
    OneBlockSubtitles,
    PlaceholderTokens,
    RopePositions,
    SquareGridPlanner,
)
from vlmctx.models.contract import (
    Adapter,
    CheckpointSettings,
    Loaded,
    VisualFeatures,
    register_family,
)
from vlmctx.models.tinykit import TEMPLATES, build_tokenizer, text_config

if TYPE_CHECKING:
    from transformers import BatchFeature, PreTrainedModel, ProcessorMixin


class LlavaOnevisionPooled(EmbedsPooled):
    """Video features pooled 2x2 by the model, then one trailing newline embedding."""

    def visual_features(self, loaded: Loaded, inputs: BatchFeature) -> VisualFeatures:
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


class LlavaOnevisionTiny:
    """Tiny LLaVA-OneVision: SigLIP on 56-pixel frames, 4 tokens each plus the newline."""

    def build(self) -> tuple[PreTrainedModel, ProcessorMixin]:
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


@register_family(
    "llava_onevision", summary="LLaVA-OneVision (1-D RoPE; llava-onevision-qwen2-0.5b-ov-hf)"
)
def llava_onevision(family: str) -> Adapter:
    """LLaVA-OneVision: text time prefix, 1-D RoPE, one video block with a trailing newline."""
    settings = CheckpointSettings(time_prefix=True, visual_window=6272)
    return Adapter(
        family,
        model_types=("llava_onevision",),
        default_checkpoint="llava-hf/llava-onevision-qwen2-0.5b-ov-hf",
        settings=settings,
        prompt=ChatPrompting(settings),
        tokens=PlaceholderTokens(),
        subtitles=OneBlockSubtitles(),
        positions=RopePositions(),
        pooled=LlavaOnevisionPooled(),
        planner=SquareGridPlanner(trailing=1),  # the newline embedding is kept as it is
        tiny=LlavaOnevisionTiny(),
    )
