"""InternVL adapter (InternVL2.5/3, arXiv 2412.05271 / 2504.10479) for the native HF ``-hf`` ports.

Each frame becomes ``Frame{i}: <img><IMG_CONTEXT>*k</img>`` (k = 256 for 448-pixel tiles after
pixel shuffle); positions are 1-D. Timestamps go into the prompt text. Frames are encoded as
images (``get_image_features``), one visual run per frame.

Visual window (VCWE's default): 8192 = 32 frames x 256 tokens, InternVL2's 8K training context
(OpenGVLab/InternVL#272). InternVL3, the default checkpoint, was trained natively with V2PE on
longer contexts, so for it this window is a conservative reading, not a measured fact.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vlmctx.errors import UnsupportedModelError
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
    import torch
    from transformers import BatchFeature, PreTrainedModel, ProcessorMixin


class FrameLineSubtitles(OneBlockSubtitles):
    """Text on its own line between the ``Frame{i}: <img>…</img>`` lines."""

    def cuts(self, loaded: Loaded, inputs: BatchFeature, steps: int) -> list[int]:
        """Each frame is a line ``Frame{i}: <img>…</img>``: text goes on its own line after a
        frame's line, and before the video at its first ``Frame1: `` label."""
        import torch

        proc = loaded.processor
        ids = inputs["input_ids"][0]
        opens = torch.nonzero(ids == proc.start_image_token_id).flatten().tolist()
        closes = torch.nonzero(ids == proc.end_image_token_id).flatten().tolist()
        if len(closes) != steps or len(opens) != steps:
            raise UnsupportedModelError(
                f"internvl: {len(closes)} frame images in the prompt for {steps} frames"
            )
        label = proc.tokenizer("Frame1: ", add_special_tokens=False)["input_ids"]
        first = opens[0]
        if first >= len(label) and ids[first - len(label) : first].tolist() == label:
            first -= len(label)
        newline = proc.tokenizer("\n", add_special_tokens=False)["input_ids"]
        ends = [
            c + 1 + len(newline) if ids[c + 1 : c + 1 + len(newline)].tolist() == newline else c + 1
            for c in closes
        ]  # after the frame's line break
        return [first, *ends]


class InternVLPooled(EmbedsPooled):
    """Frames are encoded as images (``get_image_features``), one square grid each."""

    features_method = "get_image_features"

    def vision_module(self, model: PreTrainedModel) -> torch.nn.Module | None:
        return getattr(model.model, "vision_tower", None)

    def visual_features(self, loaded: Loaded, inputs: BatchFeature) -> VisualFeatures:
        cfg = loaded.model.config
        feats = loaded.model.model.get_image_features(
            pixel_values=inputs["pixel_values"],
            vision_feature_layer=cfg.vision_feature_layer,
            vision_feature_select_strategy=cfg.vision_feature_select_strategy,
        ).pooler_output  # (frames, s * s, d)
        side = int(round(feats.shape[1] ** 0.5))
        return VisualFeatures(feats.reshape(feats.shape[0], side, side, -1))


class InternVLTiny:
    """Tiny InternVL: 56-pixel frames, 4 tokens each after pixel shuffle."""

    def build(self) -> tuple[PreTrainedModel, ProcessorMixin]:
        from transformers import (
            GotOcr2ImageProcessor,
            InternVLConfig,
            InternVLForConditionalGeneration,
            InternVLProcessor,
            InternVLVideoProcessor,
        )

        specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<img>", "</img>"]
        specials += ["<IMG_CONTEXT>", "<video>"]
        extra = {
            "start_image_token": "<img>",
            "end_image_token": "</img>",
            "context_image_token": "<IMG_CONTEXT>",
            "video_token": "<video>",
        }
        tok = build_tokenizer(specials, extra, "<|im_end|>", "<|endoftext|>")
        side = 56  # 4x4 patches of 14, pixel-shuffled by 0.5 -> 4 tokens per frame
        vision = dict(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            image_size=[side, side],
            patch_size=[14, 14],
        )
        cfg = InternVLConfig(
            text_config=dict(text_config(tok), model_type="qwen2"),
            vision_config=vision,
            image_token_id=tok.convert_tokens_to_ids("<IMG_CONTEXT>"),
            image_seq_length=4,
            downsample_ratio=0.5,
        )
        img = GotOcr2ImageProcessor(
            size={"height": side, "width": side}, crop_to_patches=False, max_patches=1
        )
        vid = InternVLVideoProcessor(size={"height": side, "width": side})
        proc = InternVLProcessor(
            image_processor=img,
            tokenizer=tok,
            video_processor=vid,
            image_seq_length=4,
            chat_template=(TEMPLATES / "internvl.jinja").read_text(),
        )
        return InternVLForConditionalGeneration(cfg), proc


@register_family("internvl", summary="InternVL 2.5/3 HF ports (1-D RoPE; InternVL3-1B-hf)")
def internvl(family: str) -> Adapter:
    """InternVL: text time prefix, 1-D RoPE, one visual span per frame."""
    settings = CheckpointSettings(time_prefix=True, visual_window=8192)
    return Adapter(
        family,
        model_types=("internvl",),
        default_checkpoint="OpenGVLab/InternVL3-1B-hf",
        settings=settings,
        prompt=ChatPrompting(settings),
        tokens=PlaceholderTokens(("image_token",)),  # <IMG_CONTEXT>: one per visual embedding
        subtitles=FrameLineSubtitles(),
        positions=RopePositions(),
        pooled=InternVLPooled(),
        planner=SquareGridPlanner(),
        tiny=InternVLTiny(),
    )
