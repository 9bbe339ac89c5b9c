"""Qwen3-VL adapter (arXiv 2511.21631): time as text markers, interleaved M-RoPE, DeepStack.

What differs from Qwen2.5-VL, and how vlmctx handles it:

- **Time enters as text** (report §2.3, "text-based time alignment"): ``Qwen3VLProcessor`` writes
  ``<{t:.1f} seconds>`` before each frame pair's ``<|vision_start|>…<|vision_end|>``, with ``t``
  the mean of ``frames_indices / fps`` over the pair. Frames sampled outside the processor
  otherwise get ``frames_indices = range(n)`` and wrong times (the ecosystem's known bug class).
  :meth:`Qwen3Prompting.video_kwargs` hands the processor each frame's TRUE presentation time as
  its "index" at ``fps = 1``, so ``index / fps`` is the PTS, variable frame rate included.
- **Positions**: ``get_rope_index`` splits the video grid into one group per frame pair (t = 1
  each; time is carried by the markers and the sequence order), so each frame pair is its own
  visual run here too; the rotary interleaves the t/h/w frequencies (``mrope_interleaved``).
- **DeepStack** (report §2.2): visual features of several vision layers are added to the hidden
  states of the first language layers at the visual positions. The pooled path pools those
  levels with the main tokens' plans and hands everything to the model's own multimodal path
  (``mm_encoder_outputs``), which places the main tokens and builds ``visual_pos_masks``.

Visual window (VCWE's default): 32768 tokens, an ASSUMPTION. No per-video token cap of Qwen3-VL's
training is published (its architecture cards say "unknown"). 32768 is the sequence length of the
report's long-context pre-training stage, between the 8K stages and the final 256K one (arXiv
2511.21631, Table 1, read through a summary of the paper): the window the whole sequence, video
included, was trained in before the ultra-long stage. It is conservative: the 256K stage and
Qwen's own long-video recipe (2 fps, up to 2048 frames, ~224K video tokens; QwenLM/Qwen3-VL#1540)
go far beyond it, so VCWE/V2PE/M-RoPE++ start rescaling earlier than the model may need. Pass
``visual_window`` (``--position-arg`` or a checkpoint's ``vlmctx.json``) when you know better.
docs/positions.md lists it with the other families' windows.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from vlmctx.errors import UnsupportedModelError
from vlmctx.models.common import PlaceholderTokens, visual_runs
from vlmctx.models.contract import (
    Adapter,
    CheckpointSettings,
    Loaded,
    VisualFeatures,
    register_family,
)
from vlmctx.models.qwen2_vl import (
    MRopePlanner,
    MRopePooled,
    MRopePositions,
    Qwen2VLTiny,
    QwenPrompting,
    QwenSubtitles,
    merge_size,
    video_grid,
)
from vlmctx.models.tinykit import QWEN_SPECIALS, TEMPLATES, build_tokenizer

if TYPE_CHECKING:
    import torch
    from transformers import BatchFeature, PreTrainedModel, ProcessorMixin
    from transformers.tokenization_utils_base import PreTrainedTokenizerBase

    from vlmctx.position import RopeSpec, TokenLayout
    from vlmctx.video.types import Frames

# Tiny text model: head_dim 16 -> 8 frequencies, interleaved as transformers does with [4, 2, 2]:
# h = {1, 4}, w = {2, 5}, t = {0, 3, 6, 7} (t owns the tail, like [24, 20, 20] on 64 frequencies).
TINY_TEXT = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=16,
    max_position_embeddings=32768,
    rms_norm_eps=1e-6,
)
_TINY_VISION = dict(
    depth=2,
    hidden_size=32,
    intermediate_size=64,
    num_heads=2,
    out_hidden_size=64,
    num_position_embeddings=256,
    deepstack_visual_indexes=[0, 1],
)


def tiny_text_config(tok: PreTrainedTokenizerBase, **rope: Any) -> dict[str, Any]:
    params = {"rope_type": "default", "rope_theta": 5_000_000.0, "mrope_interleaved": True}
    return dict(
        TINY_TEXT,
        vocab_size=len(tok),
        pad_token_id=tok.pad_token_id,
        rope_parameters={**params, **rope},
    )


class Qwen3Prompting(QwenPrompting):
    """The processor writes ``<t seconds>`` markers from each frame's true PTS."""

    def video_kwargs(self, frames: Frames) -> dict[str, Any]:
        """Metadata whose ``frames_indices / fps`` is each frame's true PTS (``fps = 1``, the
        index IS the time in seconds), so the processor's ``<t seconds>`` markers carry real
        times for any frame rate; the processor never resamples."""
        from transformers.video_utils import VideoMetadata

        meta = VideoMetadata(
            total_num_frames=len(frames),
            fps=1.0,
            width=int(frames.data.shape[2]),
            height=int(frames.data.shape[1]),
            duration=float(frames.info.duration_s),
            video_backend=frames.backend,
            frames_indices=[float(t) for t in frames.pts_s],
        )
        return {**super().video_kwargs(frames), "video_metadata": [meta]}


# the processor's time marker before each frame pair: f"<{t:.1f} seconds>"
_MARKER = re.compile(r"<\d+(\.\d+)? seconds>")


class Qwen3Subtitles(QwenSubtitles):
    """Subtitles between frame pairs as transformers >= 5.25 lays a Qwen3 video out: the processor
    drops the chat template's outer ``<|vision_start|>`` / ``<|vision_end|>`` around the video (each
    pair already has its own), so the video is ``<t seconds><|vision_start|>pads<|vision_end|>``
    repeated with nothing around it: nothing to close or reopen, and the video starts at its first
    time marker."""

    def cuts(self, loaded: Loaded, inputs: BatchFeature, steps: int) -> list[int]:
        cuts = super().cuts(loaded, inputs, steps)
        return [self._marker_start(loaded, inputs["input_ids"][0], cuts[0]), *cuts[1:]]

    def wrap_ids(self, loaded: Loaded) -> tuple[list[int], list[int]]:
        """Nothing to close or reopen: every frame pair closes itself."""
        return [], []

    @staticmethod
    def _marker_start(loaded: Loaded, ids: torch.Tensor, first_open: int) -> int:
        """Index of the first token of the ``<t seconds>`` marker that ends at ``first_open``."""
        tok = getattr(loaded.processor, "tokenizer", loaded.processor)
        for start in range(first_open - 1, max(first_open - 32, -1), -1):
            if _MARKER.fullmatch(tok.decode(ids[start:first_open].tolist())):
                return start
        raise UnsupportedModelError(
            f"{loaded.adapter.family}: no '<t seconds>' marker before the video; "
            "the processor's video layout is not the one of transformers 5.25"
        )


class Qwen3Positions(MRopePositions):
    """Interleaved M-RoPE, one visual span per frame pair (as ``get_rope_index``)."""

    def rope_spec(self, loaded: Loaded) -> RopeSpec:
        """transformers' Qwen3-VL rotary always interleaves, whatever the config's flag says."""
        from vlmctx.position import spec_from_config

        text_cfg = loaded.model.config.get_text_config()
        return spec_from_config(
            text_cfg,
            loaded.adapter.family,
            visual_window=loaded.adapter.settings.visual_window,
            mrope_interleaved=True,
        )

    def layouts(
        self, loaded: Loaded, inputs: BatchFeature, mask: torch.Tensor | None
    ) -> list[TokenLayout]:
        """As ``get_rope_index``: each video grid (t, h, w) becomes t grids (1, h, w), one per
        frame pair, each placed after its time marker."""
        import torch

        from vlmctx.position import layouts_from_mm_inputs

        grid = inputs.get("video_grid_thw")
        if grid is not None:
            grid = torch.repeat_interleave(grid, grid[:, 0], dim=0)
            grid[:, 0] = 1
        image_grid = inputs.get("image_grid_thw")
        types = inputs["mm_token_type_ids"]
        return layouts_from_mm_inputs(types, merge_size(loaded), image_grid, grid, mask)


class PerPairPooled(MRopePooled):
    """The pooled sequence keeps one visual span per frame pair (Qwen3-VL's prompt layout)."""

    def pooled_layout(
        self,
        loaded: Loaded,
        inputs: BatchFeature,
        new_ids: torch.Tensor,
        visual: torch.Tensor,
        coords: torch.Tensor,
    ) -> TokenLayout:
        """One span per frame pair (its own (1, h, w) grid after its marker), pooled tokens at
        their cell centres within the frame."""
        import torch

        from vlmctx.position import VIDEO, TokenLayout, VisualSpan

        _, h, w = video_grid(loaded, inputs)
        types = torch.zeros(new_ids.shape[0], dtype=torch.int64)
        types[visual] = VIDEO
        coords = coords.to(torch.float32).cpu()
        spans, offset = [], 0
        for k, (start, end) in enumerate(visual_runs(visual)):
            c = coords[offset : offset + end - start].clone()  # (k_i, 3)
            c[:, 0] -= k  # each frame pair is its own grid (t = 1)
            spans.append(VisualSpan(start, (1, h, w), VIDEO, 1.0, c))
            offset += end - start
        return TokenLayout(types, tuple(spans))


class DeepStackPooled(PerPairPooled):
    """Per-pair spans plus DeepStack: every level is pooled with the main tokens' layouts and
    handed to the model's own multimodal path."""

    def visual_features(self, loaded: Loaded, inputs: BatchFeature) -> VisualFeatures:
        """The merged main tokens and every DeepStack level, each as a (t, h, w, d) grid."""
        t, h, w = video_grid(loaded, inputs)
        out = loaded.model.model.get_video_features(
            inputs["pixel_values_videos"], inputs["video_grid_thw"]
        )
        levels = tuple(
            lvl[0].reshape(t, h, w, -1)  # (t*h*w, d) -> (t, h, w, d)
            for lvl in (getattr(out, "deepstack_features", None) or ())
        )
        return VisualFeatures(out.pooler_output[0].reshape(t, h, w, -1), levels=levels)

    def pooled_embeddings(
        self,
        loaded: Loaded,
        new_ids: torch.Tensor,
        visual_mask: torch.Tensor,
        visual: torch.Tensor,
        levels: Sequence[torch.Tensor],
    ) -> dict[str, Any]:
        """Placeholder embeddings plus the pooled tokens and DeepStack levels as pre-encoded
        video outputs: the model scatters them itself and builds ``visual_pos_masks`` from the
        placeholders, exactly as for unpooled pixels (``mm_encoder_outputs`` is forwarded by
        ``generate`` in the prefill only)."""
        from transformers.models.qwen3_vl.modeling_qwen3_vl import (
            BaseModelOutputWithDeepstackFeatures,
        )

        embeds = loaded.model.get_input_embeddings()(new_ids[None])  # (1, n, d)
        encoded = BaseModelOutputWithDeepstackFeatures(
            pooler_output=(visual,), deepstack_features=[(lvl,) for lvl in levels]
        )
        return {"inputs_embeds": embeds, "mm_encoder_outputs": {"video": encoded}}


class Qwen3VLTiny(Qwen2VLTiny):
    """Tiny Qwen3-VL with two DeepStack taps."""

    def tiny_parts(self) -> tuple[PreTrainedTokenizerBase, ProcessorMixin]:
        """Byte-level tokenizer with Qwen's special tokens and the real Qwen3-VL processor
        (patch 16, temporal patch 2, merge 2: 32x32 pixels per LLM token)."""
        from transformers import Qwen2VLImageProcessor, Qwen3VLProcessor, Qwen3VLVideoProcessor

        tok = build_tokenizer(
            QWEN_SPECIALS,
            {"image_token": "<|image_pad|>", "video_token": "<|video_pad|>"},
            eos="<|im_end|>",
            pad="<|endoftext|>",
        )
        image = Qwen2VLImageProcessor(
            size={"shortest_edge": 32 * 32, "longest_edge": 128 * 128}, patch_size=16
        )
        # up to 4x4 tokens per frame for 8 frames keeps tests fast
        video = Qwen3VLVideoProcessor(
            size={"shortest_edge": 32 * 32, "longest_edge": 128 * 128 * 8}
        )
        proc = Qwen3VLProcessor(
            image_processor=image,
            tokenizer=tok,
            video_processor=video,
            chat_template=(TEMPLATES / "qwen3_vl.jinja").read_text(),
        )
        return tok, proc

    def build(self) -> tuple[PreTrainedModel, ProcessorMixin]:
        from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration

        tok, proc = self.tiny_parts()
        cfg = Qwen3VLConfig(
            text_config=tiny_text_config(tok, mrope_section=[4, 2, 2]),
            vision_config=_TINY_VISION,
            **self.special_ids(tok),
        )
        return Qwen3VLForConditionalGeneration(cfg), proc


@register_family("qwen3_vl", summary="Qwen3-VL (text time markers, interleaved M-RoPE, DeepStack)")
def qwen3_vl(family: str) -> Adapter:
    """Qwen3-VL: the processor writes the time markers itself (no text time prefix)."""
    settings = CheckpointSettings(time_prefix=False, visual_window=32768)
    return Adapter(
        family,
        model_types=("qwen3_vl", "qwen3_vl_moe"),
        default_checkpoint="Qwen/Qwen3-VL-2B-Instruct",
        settings=settings,
        prompt=Qwen3Prompting(settings),
        tokens=PlaceholderTokens(),
        subtitles=Qwen3Subtitles(),
        positions=Qwen3Positions(),
        pooled=DeepStackPooled(),
        planner=MRopePlanner(),
        tiny=Qwen3VLTiny(),
    )
