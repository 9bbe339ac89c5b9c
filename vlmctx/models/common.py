"""Components shared by families: a 1-D RoPE family with a text time prefix is built from these
alone (LLaVA-OneVision, InternVL with small changes); the M-RoPE families reuse the prompting.

Each class implements one protocol of :mod:`vlmctx.models.contract`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from vlmctx.errors import UnsupportedModelError
from vlmctx.models.contract import CheckpointSettings, Loaded, Message, Turn, VisualFeatures

if TYPE_CHECKING:
    import torch
    from transformers import BatchFeature, PretrainedConfig, PreTrainedModel, ProcessorMixin

    from vlmctx.pooling import Pooler
    from vlmctx.position import RopeSpec, TokenLayout
    from vlmctx.video.subtitles import Subtitles
    from vlmctx.video.types import Frames


def visual_runs(mask: torch.Tensor) -> list[tuple[int, int]]:
    """[start, end) of each maximal run of True in a 1-D mask."""
    import torch

    idx = torch.nonzero(mask).flatten().tolist()
    runs: list[tuple[int, int]] = []
    for i in idx:
        if runs and runs[-1][1] == i:
            runs[-1] = (runs[-1][0], i + 1)
        else:
            runs.append((i, i + 1))
    return runs


def token_counter(loaded: Loaded) -> Callable[[str], int]:
    """Tokens of a text under this model's tokenizer (no special tokens)."""
    tok = getattr(loaded.processor, "tokenizer", loaded.processor)
    return lambda text: len(tok(text, add_special_tokens=False)["input_ids"])


def attr_path(obj: Any, path: str) -> Any:
    """``obj.a.b.c`` for ``path`` ``"a.b.c"``, or None where a step is missing."""
    for name in path.split("."):
        obj = getattr(obj, name, None)
        if obj is None:
            return None
    return obj


# ---- prompting ------------------------------------------------------------------------------------
class ChatPrompting:
    """Chat messages with the video in the first user turn; LLaVA-Video's text time prefix when
    the checkpoint's settings ask for it; the processor never resamples the frames."""

    def __init__(self, settings: CheckpointSettings) -> None:
        self.settings = settings

    def prepare_processor(self, processor: ProcessorMixin) -> None:
        """No family-specific processor settings."""

    def time_text(self, frames: Frames) -> str:
        """LLaVA-Video style time instruction: the video's length and each frame's timestamp."""
        stamps = ",".join(f"{t:.2f}s" for t in frames.pts_s)
        return (
            f"The video lasts for {frames.info.duration_s:.2f} seconds, and {len(frames)} frames "
            f"are sampled from it. These frames are located at {stamps}. "
            "Please answer the following questions related to this video.\n"
        )

    def subtitle_text(self, loaded: Loaded, frames: Frames, subtitles: Subtitles) -> str:
        """Subtitle lines at the sampled frames' true timestamps, placed before the question
        (``before`` placement): ``subtitles`` picks the cues that overlap ``frames.pts_s`` and
        renders them within its token budget, counted with this model's tokenizer."""
        return subtitles.text(frames.pts_s, token_counter(loaded))

    def messages(
        self, question: str, frames: Frames | None, history: Sequence[Turn] = ()
    ) -> list[Message]:
        """Chat messages: the video rides with the first user turn; later turns are text only."""
        msgs: list[Message] = []
        turns: list[tuple[str, str | None]] = [*history, (question, None)]
        for i, (q, a) in enumerate(turns):
            content: list[dict[str, Any]] = []
            if i == 0 and frames is not None:
                content.append({"type": "video"})
                if self.settings.time_prefix:
                    q = self.time_text(frames) + q
            content.append({"type": "text", "text": q})
            msgs.append({"role": "user", "content": content})
            if a is not None:
                msgs.append({"role": "assistant", "content": [{"type": "text", "text": a}]})
        return msgs

    def video_kwargs(self, frames: Frames) -> dict[str, Any]:
        """Processor kwargs for one pre-sampled video: never let the processor resample it."""
        from transformers.video_utils import VideoMetadata

        n = len(frames)
        # The selected frames are described as a clip of n frames at the sampling rate, so the
        # processor's ``sampled_fps`` is exactly our selection's rate (Qwen2.5-VL time alignment).
        fps = frames.sample_fps if frames.sample_fps > 0 else frames.info.fps
        meta = VideoMetadata(
            total_num_frames=n,
            fps=float(fps),
            width=int(frames.data.shape[2]),
            height=int(frames.data.shape[1]),
            duration=float(frames.info.duration_s),
            video_backend=frames.backend,
            frames_indices=list(range(n)),
        )
        # Frames are (t, h, w, 3); say so, or a clip 1-3 pixels high is silently read as
        # channels-first by the processor's guess.
        return {
            "video_metadata": [meta],
            "do_sample_frames": False,
            "input_data_format": "channels_last",
        }

    def build_inputs(
        self,
        loaded: Loaded,
        question: str,
        frames: Frames | None,
        history: Sequence[Turn] = (),
        images: Sequence[Any] | None = None,
        messages: list[Message] | None = None,
    ) -> BatchFeature:
        """Tokenised model inputs (BatchFeature) for one conversation turn."""
        proc = loaded.processor
        msgs = messages if messages is not None else self.messages(question, frames, history)
        text = proc.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
        kwargs: dict[str, Any] = {"text": [text], "return_tensors": "pt"}
        if frames is not None:
            kwargs["videos"] = [np.ascontiguousarray(frames.data)]
            kwargs.update(self.video_kwargs(frames))
        if images:
            kwargs["images"] = list(images)
        return proc(**kwargs)


# ---- visual tokens ----------------------------------------------------------------------------------
class PlaceholderTokens:
    """Visual tokens are the processor's image and video placeholders (``names`` overrides which
    processor attributes name them, e.g. InternVL's one ``image_token``)."""

    def __init__(self, names: tuple[str, ...] = ("image_token", "video_token")) -> None:
        self.names = names

    def visual_token_ids(self, loaded: Loaded) -> list[int]:
        tok = loaded.processor.tokenizer
        return [tok.convert_tokens_to_ids(getattr(loaded.processor, n)) for n in self.names]

    def visual_mask(self, loaded: Loaded, input_ids: torch.Tensor) -> torch.Tensor:
        import torch

        ids = torch.tensor(self.visual_token_ids(loaded), device=input_ids.device)
        return torch.isin(input_ids, ids)

    def count_visual(self, loaded: Loaded, input_ids: torch.Tensor) -> int:
        return int(self.visual_mask(loaded, input_ids).sum())


# ---- subtitles between frames -------------------------------------------------------------------
class OneBlockSubtitles:
    """One visual block of ``steps`` equal parts (LLaVA-OneVision): text goes between frames,
    anything left over (the newline embedding) stays with the last step; no wrap tokens."""

    interleaves: bool = True
    wrap: tuple[str, str] = ("", "\n")

    def temporal_step(self, loaded: Loaded) -> int:
        return 1

    def cuts(self, loaded: Loaded, inputs: BatchFeature, steps: int) -> list[int]:
        runs = visual_runs(loaded.adapter.tokens.visual_mask(loaded, inputs["input_ids"][0]))
        if len(runs) != 1:
            raise UnsupportedModelError(
                f"{loaded.adapter.family}: expected one video block to put subtitles in, "
                f"found {len(runs)}"
            )
        start, end = runs[0]
        per = (end - start) // steps
        return [start + k * per for k in range(steps)] + [end]

    def wrap_ids(self, loaded: Loaded) -> tuple[list[int], list[int]]:
        return [], []

    def split_video(
        self, loaded: Loaded, inputs: BatchFeature, after_steps: list[int]
    ) -> dict[str, Any]:
        """1-D families place embeddings in order: nothing to split."""
        return {}


# ---- positions --------------------------------------------------------------------------------------
class RopePositions:
    """1-D RoPE: each block of visual tokens is one visual span; the rotary sits at
    ``model.language_model.rotary_emb``."""

    mrope: bool = False
    language_model_path: str = "model.language_model"
    rotary_attr: str = "rotary_emb"

    def rope_spec(self, loaded: Loaded) -> RopeSpec:
        from vlmctx.position import spec_from_config

        text_cfg = loaded.model.config.get_text_config()
        return spec_from_config(
            text_cfg,
            family=loaded.adapter.family,
            visual_window=loaded.adapter.settings.visual_window,
        )

    def layouts(
        self, loaded: Loaded, inputs: BatchFeature, mask: torch.Tensor | None
    ) -> list[TokenLayout]:
        from vlmctx.position import layouts_from_visual_mask

        vis = loaded.adapter.tokens.visual_mask(loaded, inputs["input_ids"])
        return layouts_from_visual_mask(vis, mask)

    def language_model(self, model: PreTrainedModel) -> torch.nn.Module | None:
        return attr_path(model, self.language_model_path)

    def reset_position_state(self, model: PreTrainedModel) -> None:
        inner = getattr(model, "model", None)
        if inner is not None and hasattr(inner, "rope_deltas"):
            inner.rope_deltas = None

    def attention_layer_types(self, loaded: Loaded) -> list[str]:
        """The config's ``layer_types`` (a hybrid), else every layer reads the rotary."""
        text = loaded.model.config.get_text_config()
        kinds = getattr(text, "layer_types", None)
        return list(kinds) if kinds else ["full_attention"] * int(text.num_hidden_layers)


# ---- pooled path ------------------------------------------------------------------------------------
class EmbedsPooled:
    """The generic pooled path: ``inputs_embeds`` with the pooled tokens at the visual positions,
    the shortened visual spans as layout. Subclasses say how to read the encoder's features."""

    features_method: str = "get_video_features"

    def vision_module(self, model: PreTrainedModel) -> torch.nn.Module | None:
        inner = getattr(model, "model", model)
        for name in ("visual", "vision_tower"):
            if hasattr(inner, name):
                return getattr(inner, name)
        return None

    def visual_features(self, loaded: Loaded, inputs: BatchFeature) -> VisualFeatures:
        raise UnsupportedModelError(f"pooling is not implemented for {loaded.adapter.family!r}")

    def pooled_layout(
        self,
        loaded: Loaded,
        inputs: BatchFeature,
        new_ids: torch.Tensor,
        visual: torch.Tensor,
        coords: torch.Tensor,
    ) -> TokenLayout:
        from vlmctx.position import layouts_from_visual_mask

        (layout,) = layouts_from_visual_mask(visual[None])
        return layout

    def pooled_embeddings(
        self,
        loaded: Loaded,
        new_ids: torch.Tensor,
        visual_mask: torch.Tensor,
        visual: torch.Tensor,
        levels: Sequence[torch.Tensor],
    ) -> dict[str, Any]:
        """``inputs_embeds`` of ``new_ids`` (n,) with ``visual`` (k, d) at ``visual_mask``; a
        family with extra feature levels must consume them (see :class:`DeepStackPooled`)."""
        if len(levels):
            raise UnsupportedModelError(
                f"family {loaded.adapter.family!r} has extra visual feature levels but no way "
                "to pass them"
            )
        embeds = loaded.model.get_input_embeddings()(new_ids[None]).clone()  # (1, n, d)
        embeds[0, visual_mask] = visual.to(embeds.dtype)
        return {"inputs_embeds": embeds}

    def pooled_kwargs(
        self, loaded: Loaded, inputs: BatchFeature, keep: torch.Tensor, layout: TokenLayout
    ) -> dict[str, Any]:
        return {}


# ---- planner terms ----------------------------------------------------------------------------------
class SquareGridPlanner:
    """Square per-frame grids of ``visual // frames`` tokens; no fixed state (pure attention).
    ``trailing``: embeddings after the grids that pooling keeps as they are (LLaVA's newline)."""

    def __init__(self, trailing: int = 0) -> None:
        self.trailing = trailing

    def pooled_visual_tokens(
        self,
        config: PretrainedConfig,
        inputs: BatchFeature,
        frames: int,
        visual: int,
        pooler: Pooler,
    ) -> int:
        from vlmctx.pooling import pooled_token_count

        side = int(round(((visual - self.trailing) // frames) ** 0.5))
        return pooled_token_count(pooler, frames, side, side) + self.trailing

    def fixed_state_bytes(self, text_config: PretrainedConfig, dtype_bytes: int) -> int:
        return 0
