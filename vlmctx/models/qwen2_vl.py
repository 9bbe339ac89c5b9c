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

    # ---- subtitles between frame pairs -----------------------------------------------------------
    def temporal_step(self, loaded: Loaded) -> int:
        """The temporal patch: two frames share each video token, so text goes between pairs."""
        return int(loaded.processor.video_processor.temporal_patch_size)

    def subtitle_cuts(self, loaded: Loaded, inputs: Any, steps: int) -> list[int]:
        """Before the video's ``<|vision_start|>``, between frame pairs (Qwen2/2.5-VL: inside the
        one run of pads; Qwen3-VL: after each pair's own ``<|vision_end|>``, before the next
        time marker), and after the video's last ``<|vision_end|>``."""
        import torch

        from vlmctx.models.pooled import visual_runs

        ids = inputs["input_ids"][0]
        cfg = loaded.model.config
        runs = visual_runs(self.visual_mask(loaded, ids))
        if len(runs) == 1:  # one run of steps * (h * w) pads
            start, end = runs[0]
            per = (end - start) // steps
            inner = [start + k * per for k in range(1, steps)]
        elif len(runs) == steps:  # one run per pair, each closed by its own <|vision_end|>
            inner = [end + 1 for _, end in runs[:-1]]
        else:
            raise UnsupportedModelError(
                f"{self.family}: {len(runs)} visual runs for {steps} frame pairs; expected one video"
            )
        opens = torch.nonzero(ids == cfg.vision_start_token_id).flatten()
        closes = torch.nonzero(ids == cfg.vision_end_token_id).flatten()
        return [int(opens[0]), *inner, int(closes[-1]) + 1]

    def subtitle_wrap_ids(self, loaded: Loaded) -> tuple[list[int], list[int]]:
        cfg = loaded.model.config
        return [int(cfg.vision_end_token_id)], [int(cfg.vision_start_token_id)]

    def split_video(self, loaded: Loaded, inputs: Any, after_steps: list[int]) -> dict[str, Any]:
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

        from vlmctx.position import VIDEO, TokenLayout, VisualSpan

        start = int(torch.nonzero(visual)[0])
        interval = 1.0
        tps = self.tokens_per_second(loaded)
        if tps is not None and "second_per_grid_ts" in inputs:
            sec = torch.as_tensor(inputs["second_per_grid_ts"][0], dtype=torch.float32)
            interval = float(sec * tps)
        types = torch.zeros(new_ids.shape[0], dtype=torch.int64)
        types[visual] = VIDEO
        grid = self._video_grid(loaded, inputs)
        run = VisualSpan(start, grid, VIDEO, interval, coords.to(torch.float32).cpu())
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
