"""The adapter contract: what vlmctx needs to know about one Hugging Face VLM family, as small
typed protocols that a family composes into one :class:`Adapter`.

Shared code (the engine, the pooled path, position-scheme application, the planner) never branches
on a family name; it asks the family's components. The split follows vLLM's multimodal
processing info / processor / dummy-inputs split, one protocol per concern:

- :class:`Prompting`: chat messages and processor inputs for frames + text, including how time
  reaches the model (a text time prefix, time-aligned positions, or timestamps the processor
  writes from the frames' true PTS), and subtitle lines placed before the question.
- :class:`VisualTokens`: the placeholder ids, the visual-token mask, counts.
- :class:`SubtitleSplicing`: the temporal step, where text may cut into the video's tokens, the
  tokens that close and reopen a visual block and how the video's grid splits into parts
  (driven by :func:`vlmctx.models.splice.interleave_subtitles`).
- :class:`Positions`: the :class:`~vlmctx.position.RopeSpec`, one
  :class:`~vlmctx.position.TokenLayout` per row, the rotary module's path and the position state
  a model caches between calls (``rope_deltas``).
- :class:`PooledPath`: per-frame visual feature grids from the model's own encoder (DeepStack
  levels included), the pooled sequence's layout and its generate kwargs.
- :class:`PlannerTerms`: the memory planner's numbers from processor outputs alone (visual tokens
  after pooling, fixed per-sequence state).
- :class:`TinyModel`: a randomly initialised model of the family (``tiny-<family>``).

A new family is one adapter module that composes these (reusing :mod:`vlmctx.models.common` and
the other families' components) and registers one builder with :func:`register_family`, plus a
card file in ``cards/``. :meth:`Adapter.check_contract`, run at load time, fails with a clear
message when the installed transformers moved an internal the adapter relies on.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from vlmctx.errors import ModelLoadError, UnsupportedModelError
from vlmctx.models.names import SETTINGS_FILE, load_hint
from vlmctx.registry import Registry

if TYPE_CHECKING:
    import torch
    from transformers import BatchFeature, PretrainedConfig, PreTrainedModel, ProcessorMixin

    from vlmctx.pooling import Pooler
    from vlmctx.position import RopeSpec, TokenLayout
    from vlmctx.video.subtitles import Subtitles
    from vlmctx.video.types import Frames

Turn = tuple[str, str]  # (user question, assistant answer)
Message = dict[str, Any]  # one chat-template message (role, content parts)


@dataclass
class CheckpointSettings:
    """What a checkpoint may declare in its ``vlmctx.json`` over the family's defaults.

    ``time_prefix``: write frame timestamps into the prompt text (the model was trained so);
    ``visual_window``: visual tokens of its longest training video (VCWE's default window);
    ``chunk_frames``: frames per chunk a streaming session (``vlmctx live``, the demo's live
    tab) pushes by default. 2 (one temporal step of the Qwen families' 2-frame patches, the
    smallest chunk every family takes) unless the checkpoint declares better: the streaming
    needle study (eval/experiments/streaming_needle.py) found the toy lab answers right 100% of
    the time with 16-frame chunks (its training length) against 33-38% with 2-frame chunks, so
    its ``vlmctx.json`` says 16. No real checkpoint has been measured so.
    Each family's builder sets the defaults and cites their source.
    """

    time_prefix: bool = True
    visual_window: int | None = None
    chunk_frames: int = 2


@dataclass
class Loaded:
    """A model with its processor, ready for ``generate``.

    ``model`` is None for the memory planner's processor-only ``Loaded``. ``lock`` serialises
    every call that runs the model: a position scheme swaps the language model's rotary module,
    and HF's Qwen models cache ``rope_deltas`` on the module, so two overlapping generations on
    one model would corrupt each other. Re-entrant, so a caller that holds it may apply a scheme
    inside.
    """

    model: PreTrainedModel | None
    processor: ProcessorMixin
    adapter: Adapter
    source: str  # the id or path it was loaded from
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)


@dataclass
class VisualFeatures:
    """The model's own visual embeddings of one video, as a grid per frame.

    ``grid``: (t, h, w, d), one LLM token per cell (after the family's merge / pooling);
    ``trailing``: (d,) an embedding that follows the grid in the sequence (LLaVA-OneVision's
    newline) or None; ``levels``: further (t, h, w, d') grids the language model consumes at the
    same visual positions (Qwen3-VL's DeepStack features, arXiv 2511.21631 §2.2), pooled with the
    same per-frame layouts as ``grid``.
    """

    grid: torch.Tensor
    trailing: torch.Tensor | None = None
    levels: tuple[torch.Tensor, ...] = ()


# ---- the protocols ------------------------------------------------------------------------------
class Prompting(Protocol):
    """Chat template and processor inputs for frames + text (time and subtitles included)."""

    def prepare_processor(self, processor: ProcessorMixin) -> None:
        """Family-specific processor settings, applied once after loading."""

    def time_text(self, frames: Frames) -> str:
        """The text time prefix: the video's length and each frame's true timestamp."""

    def messages(
        self, question: str, frames: Frames | None, history: Sequence[Turn] = ()
    ) -> list[Message]:
        """Chat messages; the video rides with the first user turn."""

    def video_kwargs(self, frames: Frames) -> dict[str, Any]:
        """Processor kwargs for one pre-sampled video (never resampled, true times)."""

    def build_inputs(
        self,
        loaded: Loaded,
        question: str,
        frames: Frames | None,
        history: Sequence[Turn] = (),
        images: Sequence[Any] | None = None,
        messages: list[Message] | None = None,
    ) -> BatchFeature:
        """Tokenised model inputs for one conversation turn."""

    def subtitle_text(self, loaded: Loaded, frames: Frames, subtitles: Subtitles) -> str:
        """Subtitle lines at the frames' true timestamps, placed before the question."""


class VisualTokens(Protocol):
    """Where the visual embeddings go in a tokenised prompt."""

    def visual_token_ids(self, loaded: Loaded) -> list[int]:
        """Placeholder token ids that the model replaces with visual embeddings."""

    def visual_mask(self, loaded: Loaded, input_ids: torch.Tensor) -> torch.Tensor:
        """Bool tensor shaped like ``input_ids``: True where a visual embedding goes."""

    def count_visual(self, loaded: Loaded, input_ids: torch.Tensor) -> int:
        """Visual tokens in ``input_ids``."""


class SubtitleSplicing(Protocol):
    """How subtitle text goes between a video's frames (``interleaved`` placement).

    ``interleaves``: whether the prompt can carry text between frames at all (else ``before``
    with a note); ``wrap``: text written before and after each block's lines.
    """

    interleaves: bool
    wrap: tuple[str, str]

    def temporal_step(self, loaded: Loaded) -> int:
        """Frames per temporal step of the video's tokens; text goes between steps only."""

    def cuts(self, loaded: Loaded, inputs: BatchFeature, steps: int) -> list[int]:
        """``steps + 1`` token indices: before the video (``[0]``), after step k (``[k + 1]``)."""

    def wrap_ids(self, loaded: Loaded) -> tuple[list[int], list[int]]:
        """Ids that close the video block before inner text and reopen it after."""

    def split_video(
        self, loaded: Loaded, inputs: BatchFeature, after_steps: list[int]
    ) -> dict[str, Any]:
        """Processor outputs that change when the video is cut after these steps."""


class Positions(Protocol):
    """The language model's rotary positions and where a position scheme plugs in.

    ``mrope``: 3-axis (t, h, w) rotary positions; ``language_model_path``: where the language
    model sits under the loaded module, ``rotary_attr``: its rotary module's name there (the one
    a position scheme swaps).
    """

    mrope: bool
    language_model_path: str
    rotary_attr: str

    def rope_spec(self, loaded: Loaded) -> RopeSpec:
        """The rotary configuration, with the checkpoint's visual window."""

    def layouts(
        self, loaded: Loaded, inputs: BatchFeature, mask: torch.Tensor | None
    ) -> list[TokenLayout]:
        """One layout per row of processor outputs (pads dropped by ``mask``)."""

    def language_model(self, model: PreTrainedModel) -> torch.nn.Module | None:
        """The module that owns the rotary embedding (``rotary_attr``)."""

    def reset_position_state(self, model: PreTrainedModel) -> None:
        """Forget position state the model caches between calls (Qwen's ``rope_deltas``)."""

    def attention_layer_types(self, loaded: Loaded) -> list[str]:
        """Per language layer: ``full_attention`` (reads the rotary) or ``linear_attention``."""


class PooledPath(Protocol):
    """Visual features from the model's own encoder, and the pooled sequence's generate kwargs.

    ``features_method``: the inner model's method that encodes visual inputs.
    """

    features_method: str

    def vision_module(self, model: PreTrainedModel) -> torch.nn.Module | None:
        """The vision tower (timed as the 'encode' stage)."""

    def visual_features(self, loaded: Loaded, inputs: BatchFeature) -> VisualFeatures:
        """Per-frame embedding grids of the one video in ``inputs`` (DeepStack levels too)."""

    def pooled_layout(
        self,
        loaded: Loaded,
        inputs: BatchFeature,
        new_ids: torch.Tensor,
        visual: torch.Tensor,
        coords: torch.Tensor,
    ) -> TokenLayout:
        """Layout of the pooled sequence (``coords``: each pooled token's unpooled centre)."""

    def pooled_embeddings(
        self,
        loaded: Loaded,
        new_ids: torch.Tensor,
        visual_mask: torch.Tensor,
        visual: torch.Tensor,
        levels: Sequence[torch.Tensor],
    ) -> dict[str, Any]:
        """Forward kwargs that carry the pooled embeddings (and every feature level)."""

    def pooled_kwargs(
        self, loaded: Loaded, inputs: BatchFeature, keep: torch.Tensor, layout: TokenLayout
    ) -> dict[str, Any]:
        """Extra forward kwargs of the pooled sequence (``keep``: input tokens that stayed)."""


class PlannerTerms(Protocol):
    """The memory planner's per-family numbers, from configs and processor outputs alone."""

    def pooled_visual_tokens(
        self,
        config: PretrainedConfig,
        inputs: BatchFeature,
        frames: int,
        visual: int,
        pooler: Pooler,
    ) -> int:
        """Visual tokens after ``pooler`` (no weights needed)."""

    def fixed_state_bytes(self, text_config: PretrainedConfig, dtype_bytes: int) -> int:
        """Per-sequence state that does not grow with the tokens (batch 1), beside the KV."""


class TinyModel(Protocol):
    """A randomly initialised model of the family from a shrunk config, with its real processor
    (and a locally built tokenizer); ``vlmctx.models.tiny`` saves and reloads it."""

    def build(self) -> tuple[PreTrainedModel, ProcessorMixin]:
        """The model and its processor."""


# ---- the composition ------------------------------------------------------------------------------
@dataclass
class Adapter:
    """One family: its identity, checkpoint settings and one component per protocol.

    Only loading lives here, and it is the same for every family: ``from_pretrained``,
    :meth:`check_contract` against the installed transformers, the processor settings and the
    checkpoint's ``vlmctx.json`` (:meth:`configure`).
    """

    family: str
    model_types: tuple[str, ...]
    default_checkpoint: str
    settings: CheckpointSettings
    prompt: Prompting
    tokens: VisualTokens
    subtitles: SubtitleSplicing
    positions: Positions
    pooled: PooledPath
    planner: PlannerTerms
    tiny: TinyModel

    def load(self, source: str, device: str, dtype: torch.dtype) -> Loaded:
        """Load model + processor from a hub id or a local folder (no download if offline)."""
        from transformers import AutoModelForImageTextToText, AutoProcessor

        try:
            processor = AutoProcessor.from_pretrained(source)
            model = AutoModelForImageTextToText.from_pretrained(source, dtype=dtype)
        except OSError as exc:
            raise ModelLoadError(load_hint(source, exc)) from exc
        self.check_contract(model)
        model.to(device).eval()
        self.prompt.prepare_processor(processor)
        self.configure(source)
        return Loaded(model, processor, self, source)

    def check_contract(self, model: PreTrainedModel) -> None:
        """Fail now, with a clear message, if the installed transformers moved what this adapter
        relies on: the language model's rotary module and the visual-features call."""
        import transformers

        where = f"{type(model).__name__} (transformers {transformers.__version__})"
        hint = "; vlmctx supports transformers 5.x as pinned in its README: reinstall that version"
        pos = self.positions
        lm = pos.language_model(model)
        if lm is None:
            raise UnsupportedModelError(f"{where} has no {pos.language_model_path}{hint}")
        rotary = getattr(lm, pos.rotary_attr, None)
        if rotary is None or not callable(rotary):
            raise UnsupportedModelError(
                f"{where}: {pos.language_model_path}.{pos.rotary_attr} is missing{hint}"
            )
        method = self.pooled.features_method
        if not callable(getattr(getattr(model, "model", model), method, None)):
            raise UnsupportedModelError(f"{where} has no model.{method}(){hint}")

    def configure(self, source: str) -> None:
        """Apply the settings a checkpoint declares in its ``vlmctx.json`` (optional file).

        ``time_prefix`` (bool), ``visual_window`` and ``chunk_frames`` (int), see
        :class:`CheckpointSettings`.
        The toy-lab checkpoint uses both; hub checkpoints have no such file.
        """
        path = Path(source) / SETTINGS_FILE
        if not path.is_file():
            return
        try:
            settings = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"unreadable {path}: {exc}; fix or delete the file") from exc
        if "time_prefix" in settings:
            self.settings.time_prefix = bool(settings["time_prefix"])
        if settings.get("visual_window") is not None:
            self.settings.visual_window = int(settings["visual_window"])
        if settings.get("chunk_frames") is not None:
            self.settings.chunk_frames = int(settings["chunk_frames"])


ADAPTERS: Registry[Adapter] = Registry("model family")


def register_family(
    name: str, summary: str
) -> Callable[[Callable[[str], Adapter]], Callable[[str], Adapter]]:
    """Decorator: register ``build(family) -> Adapter`` in :data:`ADAPTERS` under ``name``, the
    one place a family's name is written (the builder receives it)."""

    def deco(build: Callable[[str], Adapter]) -> Callable[[str], Adapter]:
        ADAPTERS.register(name, summary=summary)(partial(build, name))
        return build

    return deco
