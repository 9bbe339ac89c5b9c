"""Qwen2-VL adapter (arXiv 2409.12191): M-RoPE over (t, h, w); timestamps as a text prefix.

Qwen2-VL's temporal position id advances by one per temporal patch (2 frames) regardless of the
frames' real times, so the sampled timestamps are written into the prompt. This module also holds
the components every Qwen family reuses: subtitle cuts between frame pairs, layouts from
``mm_token_type_ids`` and the processor's grids, video features from ``get_video_features``,
pooled tokens placed at their cell centres, planner terms from ``video_grid_thw``, and the tiny
model's tokenizer and processor.

Visual window (VCWE's default): 16384 tokens, Qwen2-VL caps each training video at 16384 tokens
(arXiv 2409.12191, §2.1).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vlmctx.errors import UnsupportedModelError
from vlmctx.models.common import (
    ChatPrompting,
    EmbedsPooled,
    PlaceholderTokens,
    RopePositions,
    visual_runs,
)
from vlmctx.models.contract import (
    Adapter,
    CheckpointSettings,
    Loaded,
    VisualFeatures,
    register_family,
)
from vlmctx.models.tinykit import QWEN_SPECIALS, TEMPLATES, build_tokenizer, text_config

if TYPE_CHECKING:
    import torch
    from transformers import BatchFeature, PretrainedConfig, PreTrainedModel, ProcessorMixin
    from transformers.tokenization_utils_base import PreTrainedTokenizerBase

    from vlmctx.pooling import Pooler
    from vlmctx.position import TokenLayout


# ---- frame grids --------------------------------------------------------------------------------
def merge_size(loaded: Loaded) -> int:
    """Patches merged per LLM token along each spatial axis."""
    return int(loaded.model.config.vision_config.spatial_merge_size)


def video_grid(loaded: Loaded, inputs: BatchFeature) -> tuple[int, int, int]:
    """(t, h, w) of the one video in ``inputs`` in LLM tokens (after the spatial merge)."""
    grid = inputs["video_grid_thw"]
    if grid.shape[0] != 1:
        raise UnsupportedModelError("pooling supports one video per prompt")
    m = merge_size(loaded)
    return int(grid[0, 0]), int(grid[0, 1]) // m, int(grid[0, 2]) // m


def tokens_per_second(loaded: Loaded, time_aligned: bool) -> float | None:
    """Temporal ids per second of video (time-aligned M-RoPE, Qwen2.5-VL), or None: one id per
    temporal patch whatever its duration (Qwen2-VL)."""
    if not time_aligned:
        return None
    return getattr(loaded.model.config.vision_config, "tokens_per_second", None)


# ---- components ---------------------------------------------------------------------------------
class QwenPrompting(ChatPrompting):
    """Chat prompting with qwen-vl-utils' per-frame pixel cap."""

    def prepare_processor(self, processor: ProcessorMixin) -> None:
        # qwen-vl-utils caps pixels per frame by an even share of the total budget; adopt it.
        vp = getattr(processor, "video_processor", None)
        if vp is not None and getattr(vp, "cap_pixels_per_frame", None) is None:
            vp.cap_pixels_per_frame = True


class QwenSubtitles:
    """Text goes between frame pairs (the temporal patch); each part becomes a video of its own,
    closed by ``<|vision_end|>`` and reopened by ``<|vision_start|>``."""

    interleaves: bool = True
    wrap: tuple[str, str] = ("", "\n")

    def temporal_step(self, loaded: Loaded) -> int:
        """The temporal patch: two frames share each video token, so text goes between pairs."""
        return int(loaded.processor.video_processor.temporal_patch_size)

    def cuts(self, loaded: Loaded, inputs: BatchFeature, steps: int) -> list[int]:
        """Before the video's ``<|vision_start|>``, between frame pairs (Qwen2/2.5-VL: inside the
        one run of pads; Qwen3-VL: after each pair's own ``<|vision_end|>``, before the next
        time marker), and after the video's last ``<|vision_end|>``."""
        import torch

        ids = inputs["input_ids"][0]
        cfg = loaded.model.config
        runs = visual_runs(loaded.adapter.tokens.visual_mask(loaded, ids))
        if len(runs) == 1:  # one run of steps * (h * w) pads
            start, end = runs[0]
            per = (end - start) // steps
            inner = [start + k * per for k in range(1, steps)]
        elif len(runs) == steps:  # one run per pair, each closed by its own <|vision_end|>
            inner = [end + 1 for _, end in runs[:-1]]
        else:
            raise UnsupportedModelError(
                f"{loaded.adapter.family}: {len(runs)} visual runs for {steps} frame pairs; "
                "expected one video"
            )
        opens = torch.nonzero(ids == cfg.vision_start_token_id).flatten()
        closes = torch.nonzero(ids == cfg.vision_end_token_id).flatten()
        return [int(opens[0]), *inner, int(closes[-1]) + 1]

    def wrap_ids(self, loaded: Loaded) -> tuple[list[int], list[int]]:
        cfg = loaded.model.config
        return [int(cfg.vision_end_token_id)], [int(cfg.vision_start_token_id)]

    def split_video(
        self, loaded: Loaded, inputs: BatchFeature, after_steps: list[int]
    ) -> dict[str, Any]:
        """One grid row per part, as the processor writes for several videos; every part keeps
        the video's ``second_per_grid_ts`` (same sampling rate)."""
        import torch

        grid = inputs["video_grid_thw"]
        if grid.shape[0] != 1:
            raise UnsupportedModelError("interleaved subtitles need exactly one video per prompt")
        t, h, w = (int(x) for x in grid[0])
        bounds = [0, *after_steps, t]
        rows = [[b - a, h, w] for a, b in zip(bounds, bounds[1:], strict=False)]
        out = {"video_grid_thw": torch.tensor(rows, dtype=grid.dtype)}  # (parts, 3)
        if inputs.get("second_per_grid_ts") is not None:
            out["second_per_grid_ts"] = inputs["second_per_grid_ts"].repeat(len(rows))  # (parts,)
        return out


class MRopePositions(RopePositions):
    """3-axis M-RoPE: layouts from ``mm_token_type_ids`` and the processor's grids;
    ``time_aligned``: temporal ids advance with the video's seconds (Qwen2.5-VL)."""

    mrope: bool = True

    def __init__(self, time_aligned: bool = False) -> None:
        self.time_aligned = time_aligned

    def layouts(
        self, loaded: Loaded, inputs: BatchFeature, mask: torch.Tensor | None
    ) -> list[TokenLayout]:
        from vlmctx.position import layouts_from_mm_inputs

        return layouts_from_mm_inputs(
            inputs["mm_token_type_ids"],
            merge_size(loaded),
            inputs.get("image_grid_thw"),
            inputs.get("video_grid_thw"),
            mask,
            inputs.get("second_per_grid_ts"),
            tokens_per_second=tokens_per_second(loaded, self.time_aligned),
        )


class MRopePooled(EmbedsPooled):
    """Video features from ``get_video_features``; one video span whose pooled tokens sit at
    their unpooled-grid centres, with explicit 3-axis ``position_ids``."""

    def __init__(self, time_aligned: bool = False) -> None:
        self.time_aligned = time_aligned

    def visual_features(self, loaded: Loaded, inputs: BatchFeature) -> VisualFeatures:
        t, h, w = video_grid(loaded, inputs)
        out = loaded.model.model.get_video_features(
            inputs["pixel_values_videos"], inputs["video_grid_thw"]
        )
        return VisualFeatures(out.pooler_output[0].reshape(t, h, w, -1))  # (t*h*w, d)->(t,h,w,d)

    def pooled_layout(
        self,
        loaded: Loaded,
        inputs: BatchFeature,
        new_ids: torch.Tensor,
        visual: torch.Tensor,
        coords: torch.Tensor,
    ) -> TokenLayout:
        """One video span whose pooled tokens sit at their unpooled-grid centres, so every
        position scheme sees where a pooled token came from."""
        import torch

        from vlmctx.position import VIDEO, TokenLayout, VisualSpan

        start = int(torch.nonzero(visual)[0])
        interval = 1.0
        tps = tokens_per_second(loaded, self.time_aligned)
        if tps is not None and "second_per_grid_ts" in inputs:
            sec = torch.as_tensor(inputs["second_per_grid_ts"][0], dtype=torch.float32)
            interval = float(sec * tps)
        types = torch.zeros(new_ids.shape[0], dtype=torch.int64)
        types[visual] = VIDEO
        grid = video_grid(loaded, inputs)
        span = VisualSpan(start, grid, VIDEO, interval, coords.to(torch.float32).cpu())
        return TokenLayout(types, (span,))

    def pooled_kwargs(
        self, loaded: Loaded, inputs: BatchFeature, keep: torch.Tensor, layout: TokenLayout
    ) -> dict[str, Any]:
        from vlmctx.position import base_position_ids

        pos, _ = base_position_ids(layout, mrope=True)  # (3, n)
        return {
            "mm_token_type_ids": inputs["mm_token_type_ids"][:, keep],
            "position_ids": pos[:, None, :].to(keep.device),  # (3, 1, n)
        }


class MRopePlanner:
    """Visual tokens after pooling from ``video_grid_thw`` and the spatial merge; no fixed state."""

    def pooled_visual_tokens(
        self,
        config: PretrainedConfig,
        inputs: BatchFeature,
        frames: int,
        visual: int,
        pooler: Pooler,
    ) -> int:
        from vlmctx.pooling import pooled_token_count

        m = config.vision_config.spatial_merge_size
        t, h, w = (int(x) for x in inputs["video_grid_thw"][0])
        return pooled_token_count(pooler, t, h // m, w // m)

    def fixed_state_bytes(self, text_config: PretrainedConfig, dtype_bytes: int) -> int:
        return 0


class Qwen2VLTiny:
    """Tiny Qwen2-VL: byte tokenizer with Qwen's special tokens, the family's real processor."""

    processor_class = "Qwen2VLProcessor"

    def tiny_parts(self) -> tuple[PreTrainedTokenizerBase, ProcessorMixin]:
        """Byte-level tokenizer with Qwen's special tokens, and the family's real processor."""
        import transformers
        from transformers import Qwen2VLImageProcessor, Qwen2VLVideoProcessor

        tok = build_tokenizer(
            QWEN_SPECIALS,
            {"image_token": "<|image_pad|>", "video_token": "<|video_pad|>"},
            eos="<|im_end|>",
            pad="<|endoftext|>",
        )
        # 28x28 pixels = one LLM token; frames of up to 4x4 tokens keep tests fast.
        size = {"shortest_edge": 28 * 28, "longest_edge": 112 * 112}
        proc = getattr(transformers, self.processor_class)(
            image_processor=Qwen2VLImageProcessor(size=size),
            tokenizer=tok,
            video_processor=Qwen2VLVideoProcessor(size=size),
            chat_template=(TEMPLATES / "qwen2_vl.jinja").read_text(),
        )
        return tok, proc

    def special_ids(self, tok: PreTrainedTokenizerBase) -> dict[str, int]:
        ids = tok.convert_tokens_to_ids
        return dict(
            image_token_id=ids("<|image_pad|>"),
            video_token_id=ids("<|video_pad|>"),
            vision_start_token_id=ids("<|vision_start|>"),
            vision_end_token_id=ids("<|vision_end|>"),
        )

    def build(self) -> tuple[PreTrainedModel, ProcessorMixin]:
        from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration

        tok, proc = self.tiny_parts()
        cfg = Qwen2VLConfig(
            text_config=text_config(tok, mrope_section=[4, 2, 2]),
            vision_config=dict(depth=2, embed_dim=32, hidden_size=64, num_heads=2, mlp_ratio=2),
            **self.special_ids(tok),
        )
        return Qwen2VLForConditionalGeneration(cfg), proc


@register_family("qwen2_vl", summary="Qwen2-VL (M-RoPE; default Qwen/Qwen2-VL-2B-Instruct)")
def qwen2_vl(family: str) -> Adapter:
    """Qwen2-VL: text time prefix, M-RoPE with one temporal id per frame pair."""
    settings = CheckpointSettings(time_prefix=True, visual_window=16384)
    return Adapter(
        family,
        model_types=("qwen2_vl",),
        default_checkpoint="Qwen/Qwen2-VL-2B-Instruct",
        settings=settings,
        prompt=QwenPrompting(settings),
        tokens=PlaceholderTokens(),
        subtitles=QwenSubtitles(),
        positions=MRopePositions(time_aligned=False),
        pooled=MRopePooled(time_aligned=False),
        planner=MRopePlanner(),
        tiny=Qwen2VLTiny(),
    )
