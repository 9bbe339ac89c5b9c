"""Qwen2-VL adapter (arXiv 2409.12191): M-RoPE over (t, h, w); timestamps as a text prefix.

Qwen2-VL's temporal position id advances by one per temporal patch (2 frames) regardless of the
frames' real times, so the sampled timestamps are written into the prompt. This class also holds
what every M-RoPE family shares: layouts from ``mm_token_type_ids`` and the processor's grids,
video features from ``get_video_features``, pooled tokens placed at their cell centres.

Visual window (VCWE's default): 16384 tokens, Qwen2-VL caps each training video at 16384 tokens
(arXiv 2409.12191, §2.1).
"""

from __future__ import annotations

from typing import Any

from vlmctx.errors import UnsupportedModelError
from vlmctx.models.base import ADAPTERS, Adapter, Loaded, VisualFeatures
from vlmctx.models.tiny import QWEN_SPECIALS, TEMPLATES, build_tokenizer, text_config


@ADAPTERS.register("qwen2_vl", summary="Qwen2-VL (M-RoPE; default Qwen/Qwen2-VL-2B-Instruct)")
class Qwen2VLAdapter(Adapter):
    family = "qwen2_vl"
    model_types = ("qwen2_vl",)
    default_checkpoint = "Qwen/Qwen2-VL-2B-Instruct"
    time_prefix = True
    mrope = True
    visual_window = 16384

    def prepare_processor(self, processor: Any) -> None:
        # qwen-vl-utils caps pixels per frame by an even share of the total budget; adopt it.
        vp = getattr(processor, "video_processor", None)
        if vp is not None and getattr(vp, "cap_pixels_per_frame", None) is None:
            vp.cap_pixels_per_frame = True

    # ---- positions -----------------------------------------------------------------------------
    def tokens_per_second(self, loaded: Loaded) -> float | None:
        """Temporal ids per second of video (time-aligned M-RoPE), or None: one id per
        temporal patch whatever its duration (Qwen2-VL)."""
        return None

    def layouts(self, loaded: Loaded, inputs: Any, mask: Any) -> list[Any]:
        from vlmctx.position import layouts_from_mm_inputs

        return layouts_from_mm_inputs(
            inputs["mm_token_type_ids"],
            self._merge(loaded),
            inputs.get("image_grid_thw"),
            inputs.get("video_grid_thw"),
            mask,
            inputs.get("second_per_grid_ts"),
            tokens_per_second=self.tokens_per_second(loaded),
        )

    def _merge(self, loaded: Loaded) -> int:
        return int(loaded.model.config.vision_config.spatial_merge_size)

    # ---- pooled path ---------------------------------------------------------------------------
    def _video_grid(self, loaded: Loaded, inputs: Any) -> tuple[int, int, int]:
        grid = inputs["video_grid_thw"]
        if grid.shape[0] != 1:
            raise UnsupportedModelError("pooling supports one video per prompt")
        m = self._merge(loaded)
        return int(grid[0, 0]), int(grid[0, 1]) // m, int(grid[0, 2]) // m

    def visual_features(self, loaded: Loaded, inputs: Any) -> VisualFeatures:
        t, h, w = self._video_grid(loaded, inputs)
        out = loaded.model.model.get_video_features(
            inputs["pixel_values_videos"], inputs["video_grid_thw"]
        )
        return VisualFeatures(out.pooler_output[0].reshape(t, h, w, -1))  # (t*h*w, d)->(t,h,w,d)

    def pooled_layout(
        self, loaded: Loaded, inputs: Any, new_ids: Any, visual: Any, coords: Any
    ) -> Any:
        """One video run whose pooled tokens sit at their unpooled-grid centres, so every
        position scheme sees where a pooled token came from."""
        import torch

        from vlmctx.position import VIDEO, TokenLayout, VisualRun

        start = int(torch.nonzero(visual)[0])
        interval = 1.0
        tps = self.tokens_per_second(loaded)
        if tps is not None and "second_per_grid_ts" in inputs:
            sec = torch.as_tensor(inputs["second_per_grid_ts"][0], dtype=torch.float32)
            interval = float(sec * tps)
        types = torch.zeros(new_ids.shape[0], dtype=torch.int64)
        types[visual] = VIDEO
        grid = self._video_grid(loaded, inputs)
        run = VisualRun(start, grid, VIDEO, interval, coords.to(torch.float32).cpu())
        return TokenLayout(types, (run,))

    def pooled_kwargs(self, loaded: Loaded, inputs: Any, keep: Any, layout: Any) -> dict[str, Any]:
        from vlmctx.position import base_position_ids

        pos, _ = base_position_ids(layout, mrope=True)  # (3, n)
        return {
            "mm_token_type_ids": inputs["mm_token_type_ids"][:, keep],
            "position_ids": pos[:, None, :].to(keep.device),  # (3, 1, n)
        }

    # ---- planner -------------------------------------------------------------------------------
    def pooled_visual_tokens(
        self, config: Any, inputs: Any, frames: int, visual: int, pooler: Any
    ) -> int:
        from vlmctx.pooling import pooled_token_count

        m = config.vision_config.spatial_merge_size
        t, h, w = (int(x) for x in inputs["video_grid_thw"][0])
        return pooled_token_count(pooler, t, h // m, w // m)

    # ---- tiny model ----------------------------------------------------------------------------
    processor_class = "Qwen2VLProcessor"

    def tiny_parts(self) -> tuple[Any, Any]:
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

    def special_ids(self, tok: Any) -> dict[str, int]:
        ids = tok.convert_tokens_to_ids
        return dict(
            image_token_id=ids("<|image_pad|>"),
            video_token_id=ids("<|video_pad|>"),
            vision_start_token_id=ids("<|vision_start|>"),
            vision_end_token_id=ids("<|vision_end|>"),
        )

    def build_tiny(self) -> tuple[Any, Any]:
        from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration

        tok, proc = self.tiny_parts()
        cfg = Qwen2VLConfig(
            text_config=text_config(tok, mrope_section=[4, 2, 2]),
            vision_config=dict(depth=2, embed_dim=32, hidden_size=64, num_heads=2, mlp_ratio=2),
            **self.special_ids(tok),
        )
        return Qwen2VLForConditionalGeneration(cfg), proc
