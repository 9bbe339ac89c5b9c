"""The adapter contract: everything vlmctx needs to know about one Hugging Face VLM family.

Shared code (the engine, the pooled path, position-scheme application, the planner) never branches
on a family name; it asks the family's :class:`Adapter`. A new family is one adapter file (a
subclass that answers these questions and builds its tiny test model) plus its registration. What
an adapter says:

- **Loading**: ``model_types`` it handles, its default real checkpoint, processor tweaks, and
  :meth:`Adapter.check_contract`, run at load time, which fails with a clear message when the
  installed transformers moved an internal this adapter relies on (rotary module, feature call).
- **Inputs**: chat messages and processor kwargs for frames + text, including how time reaches the
  model (a text time prefix, time-aligned positions, or timestamps written by the processor).
- **Visual tokens**: the placeholder ids, the visual-token mask, counts.
- **Positions**: the :class:`~vlmctx.position.RopeSpec` of the language model, the
  :class:`~vlmctx.position.TokenLayout` of each row, the rotary module's path and any position
  state the model caches between calls (``rope_deltas``), and the family's visual window (VCWE).
- **Pooled path**: per-frame visual feature grids from the model's own encoder (plus a trailing
  embedding such as LLaVA-OneVision's newline), the pooled sequence's layout and extra kwargs.
- **Subtitles between frames**: the temporal step (frames per video token), where text may be cut
  into the video's tokens, the tokens that close and reopen a visual block around it and how the
  video's grid splits into parts (:meth:`Adapter.interleave_subtitles`).
- **Planner terms**: visual tokens after pooling, computed from processor outputs alone.
- **Tiny model**: :meth:`Adapter.build_tiny` returns a randomly initialised model of the family
  from a shrunk config and its real processor (``tiny-<family>``).

Real checkpoints and the ``tiny-*`` ones load through the same ``from_pretrained`` calls.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vlmctx.errors import ModelLoadError, UnsupportedModelError
from vlmctx.registry import Registry
from vlmctx.video.types import Frames

log = logging.getLogger(__name__)

Turn = tuple[str, str]  # (user question, assistant answer)


@dataclass
class Loaded:
    """A model with its processor, ready for ``generate``.

    ``lock`` serialises every call that runs the model: a position scheme swaps the language
    model's rotary module, and HF's Qwen models cache ``rope_deltas`` on the module, so two
    overlapping generations on one model would corrupt each other. Re-entrant, so a caller that
    holds it may apply a scheme inside.
    """

    model: Any
    processor: Any
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
    same per-frame plans as ``grid``.
    """

    grid: Any
    trailing: Any = None
    levels: tuple[Any, ...] = ()


class Adapter:
    """Base adapter: 1-D RoPE families with a text time prefix. Subclasses set the class attributes
    and override the hooks where their family differs."""

    family: str = ""
    model_types: tuple[str, ...] = ()
    default_checkpoint: str = ""
    time_prefix: bool = True  # write frame timestamps into the prompt text
    mrope: bool = False  # 3-axis (t, h, w) rotary positions
    # Visual tokens of the longest training video (VCWE's default window); a checkpoint may
    # declare its own in vlmctx.json. Each adapter cites its source.
    visual_window: int | None = None
    # Where the language model sits under the loaded ``...ForConditionalGeneration`` module, and
    # the name of its rotary module there (swapped by position schemes).
    language_model_path: str = "model.language_model"
    rotary_attr: str = "rotary_emb"
    # The method of the inner model (``model.model``) that encodes visual inputs (pooled path).
    features_method: str = "get_video_features"

    # ---- loading ---------------------------------------------------------------------------
    def load(self, source: str, device: str, dtype: Any) -> Loaded:
        """Load model + processor from a hub id or a local folder (no download if offline)."""
        from transformers import AutoModelForImageTextToText, AutoProcessor

        try:
            processor = AutoProcessor.from_pretrained(source)
            model = AutoModelForImageTextToText.from_pretrained(source, dtype=dtype)
        except OSError as exc:
            raise ModelLoadError(_load_hint(source, exc)) from exc
        self.check_contract(model)
        model.to(device).eval()
        self.prepare_processor(processor)
        self.configure(source)
        return Loaded(model, processor, self, source)

    def check_contract(self, model: Any) -> None:
        """Fail now, with a clear message, if the installed transformers moved what this adapter
        relies on: the language model's rotary module and the visual-features call."""
        import transformers

        where = f"{type(model).__name__} (transformers {transformers.__version__})"
        hint = "; vlmctx supports transformers 5.x as pinned in its README: reinstall that version"
        lm = _attr_path(model, self.language_model_path)
        if lm is None:
            raise UnsupportedModelError(f"{where} has no {self.language_model_path}{hint}")
        rotary = getattr(lm, self.rotary_attr, None)
        if rotary is None or not callable(rotary):
            raise UnsupportedModelError(
                f"{where}: {self.language_model_path}.{self.rotary_attr} is missing{hint}"
            )
        if not callable(getattr(getattr(model, "model", model), self.features_method, None)):
            raise UnsupportedModelError(f"{where} has no model.{self.features_method}(){hint}")

    def configure(self, source: str) -> None:
        """Apply the settings a checkpoint declares in its ``vlmctx.json`` (optional file).

        ``time_prefix`` (bool): whether the model was trained with the text time prefix;
        ``visual_window`` (int): visual tokens of its longest training video, VCWE's default.
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
            self.time_prefix = bool(settings["time_prefix"])
        if settings.get("visual_window") is not None:
            self.visual_window = int(settings["visual_window"])

    def prepare_processor(self, processor: Any) -> None:
        """Family-specific processor settings (hook)."""

    def build_tiny(self) -> tuple[Any, Any]:
        """A randomly initialised model of this family from a shrunk config, and its processor
        (with a locally built tokenizer). ``vlmctx.models.tiny`` saves and reloads it."""
        raise NotImplementedError(f"{type(self).__name__} has no tiny model")

    # ---- inputs: frames + text, and how time reaches the model ------------------------------
    def time_text(self, frames: Frames) -> str:
        """LLaVA-Video style time instruction: the video's length and each frame's timestamp."""
        stamps = ",".join(f"{t:.2f}s" for t in frames.pts_s)
        return (
            f"The video lasts for {frames.info.duration_s:.2f} seconds, and {len(frames)} frames "
            f"are sampled from it. These frames are located at {stamps}. "
            "Please answer the following questions related to this video.\n"
        )

    def subtitle_text(self, loaded: Loaded, frames: Frames, subtitles: Any) -> str:
        """Subtitle lines at the sampled frames' true timestamps, placed before the question
        (``before`` placement).

        Family-agnostic: ``subtitles`` (:class:`vlmctx.video.subtitles.Subtitles`) picks the cues that
        overlap ``frames.pts_s`` and renders them (start times in seconds) within its token
        budget, counted with this model's tokenizer.
        """
        return subtitles.text(frames.pts_s, token_counter(loaded))

    def messages(
        self, question: str, frames: Frames | None, history: Sequence[Turn] = ()
    ) -> list[dict[str, Any]]:
        """Chat messages: the video rides with the first user turn; later turns are text only."""
        msgs: list[dict[str, Any]] = []
        turns = list(history) + [(question, None)]
        for i, (q, a) in enumerate(turns):
            content: list[dict[str, Any]] = []
            if i == 0 and frames is not None:
                content.append({"type": "video"})
                if self.time_prefix:
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
        messages: list[dict[str, Any]] | None = None,
    ) -> Any:
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

    # ---- subtitles between frames (interleaved placement) --------------------------------------
    # Whether this family's prompt can carry text between its frames; one that cannot gets the
    # ``before`` placement with a one-line note.
    interleaves_subtitles: bool = True
    # Written before and after each subtitle block's lines.
    subtitle_wrap: tuple[str, str] = ("", "\n")

    def temporal_step(self, loaded: Loaded) -> int:
        """Frames per temporal step of the video's tokens (Qwen's temporal patch: 2); text can go
        between steps only."""
        return 1

    def subtitle_cuts(self, loaded: Loaded, inputs: Any, steps: int) -> list[int]:
        """``steps + 1`` token indices of the (one-row) processor outputs: where text goes before
        the video (``[0]``) and after temporal step k (``[k + 1]``). Default (LLaVA-OneVision):
        one visual run, ``steps`` equal blocks of tokens, anything left over (the newline
        embedding) stays with the last step."""
        from vlmctx.models.pooled import visual_runs

        runs = visual_runs(self.visual_mask(loaded, inputs["input_ids"][0]))
        if len(runs) != 1:
            raise UnsupportedModelError(
                f"{self.family}: expected one video block to put subtitles in, found {len(runs)}"
            )
        start, end = runs[0]
        per = (end - start) // steps
        return [start + k * per for k in range(steps)] + [end]

    def subtitle_wrap_ids(self, loaded: Loaded) -> tuple[list[int], list[int]]:
        """Token ids that end the video block before text put inside it and reopen it after
        (Qwen: ``<|vision_end|>`` and ``<|vision_start|>``, so each part is a video of its own)."""
        return [], []

    def split_video(self, loaded: Loaded, inputs: Any, after_steps: list[int]) -> dict[str, Any]:
        """Processor outputs that change when the video is cut after these steps (its grid
        becomes one grid per part). Default: none (1-D families place embeddings in order)."""
        return {}

    def interleave_subtitles(
        self, loaded: Loaded, inputs: Any, frames: Frames, subtitles: Any
    ) -> tuple[Any, dict[str, Any]]:
        """The processor outputs of one video turn with subtitle text put between its frames by
        their true timestamps (:meth:`vlmctx.video.subtitles.Subtitles.blocks`), and a summary.

        The video is encoded exactly as without subtitles (same frames, resolution, pixel
        values); its tokens are cut at temporal-step boundaries and each block's text tokens
        inserted there. For the Qwen families each part becomes a video of its own (its own
        grid), which is what their processors produce for several videos in one prompt.
        """
        step = self.temporal_step(loaded)
        pts = [float(t) for t in frames.pts_s]
        groups = [pts[i : i + step] for i in range(0, len(pts), step)]
        step_times = [sum(g) / len(g) for g in groups]  # a step's time: its frames' mean
        count = token_counter(loaded)
        blocks = subtitles.blocks(pts, step_times, count, float(frames.info.duration_s))
        summary = {"placement": "interleaved", "blocks": len(blocks)}
        if not blocks:
            return inputs, {**summary, "cues": 0, "tokens": 0}
        cuts = self.subtitle_cuts(loaded, inputs, len(step_times))
        close, reopen = self.subtitle_wrap_ids(loaded)
        tok = getattr(loaded.processor, "tokenizer", loaded.processor)
        inserts, inner, tokens = [], [], 0
        before, after = self.subtitle_wrap
        for k, lines in blocks:
            text_ids = tok(before + lines + after, add_special_tokens=False)["input_ids"]
            tokens += count(lines)
            inside = 0 < k < len(step_times)
            inserts.append((cuts[k], (close + text_ids + reopen) if inside else text_ids))
            if inside:
                inner.append(k)
        out = _spliced(inputs, inserts)
        out.update(self.split_video(loaded, inputs, inner))
        n_cues = sum(len(lines.split("\n")) for _, lines in blocks)
        return out, {**summary, "cues": n_cues, "tokens": tokens}

    # ---- visual tokens -------------------------------------------------------------------------
    def visual_tokens(self, loaded: Loaded) -> list[str]:
        """Placeholder tokens that the model replaces with visual embeddings."""
        proc = loaded.processor
        return [proc.image_token, proc.video_token]

    def visual_token_ids(self, loaded: Loaded) -> list[int]:
        tok = loaded.processor.tokenizer
        return [tok.convert_tokens_to_ids(t) for t in self.visual_tokens(loaded)]

    def visual_mask(self, loaded: Loaded, input_ids: Any) -> Any:
        """Bool tensor shaped like ``input_ids``: True where a visual embedding goes."""
        import torch

        ids = torch.tensor(self.visual_token_ids(loaded), device=input_ids.device)
        return torch.isin(input_ids, ids)

    def count_visual(self, loaded: Loaded, input_ids: Any) -> int:
        return int(self.visual_mask(loaded, input_ids).sum())

    def vision_module(self, model: Any) -> Any:
        """The vision tower, timed as the 'encode' stage."""
        inner = getattr(model, "model", model)
        for name in ("visual", "vision_tower"):
            if hasattr(inner, name):
                return getattr(inner, name)
        return None

    # ---- positions -----------------------------------------------------------------------------
    def rope_spec(self, loaded: Loaded) -> Any:
        """The language model's rotary configuration, with this family's visual window."""
        from vlmctx.position import spec_from_config

        text_cfg = loaded.model.config.get_text_config()
        return spec_from_config(text_cfg, family=self.family, visual_window=self.visual_window)

    def layouts(self, loaded: Loaded, inputs: Any, mask: Any) -> list[Any]:
        """One ``TokenLayout`` per row of processor outputs (pads dropped by ``mask``); 1-D
        families: each block of visual tokens is one run."""
        from vlmctx.position import layouts_from_visual_mask

        return layouts_from_visual_mask(self.visual_mask(loaded, inputs["input_ids"]), mask)

    def language_model(self, model: Any) -> Any:
        """The module that owns the rotary embedding (``rotary_attr``)."""
        return _attr_path(model, self.language_model_path)

    def reset_position_state(self, model: Any) -> None:
        """Forget position state the model caches between calls (Qwen's ``rope_deltas``)."""
        inner = getattr(model, "model", None)
        if inner is not None and hasattr(inner, "rope_deltas"):
            inner.rope_deltas = None

    # ---- pooled path ---------------------------------------------------------------------------
    def visual_features(self, loaded: Loaded, inputs: Any) -> VisualFeatures:
        """Per-frame embedding grids of the one video in ``inputs``, from the model's encoder."""
        raise UnsupportedModelError(f"pooling is not implemented for family {self.family!r}")

    def pooled_layout(
        self, loaded: Loaded, inputs: Any, new_ids: Any, visual: Any, coords: Any
    ) -> Any:
        """Layout of the pooled sequence (``visual``: its visual mask; ``coords``: (k, 3) each
        pooled token's centre in the unpooled grid). 1-D families: the shortened visual runs."""
        from vlmctx.position import layouts_from_visual_mask

        (layout,) = layouts_from_visual_mask(visual[None])
        return layout

    def pooled_embeddings(
        self, loaded: Loaded, new_ids: Any, visual_mask: Any, visual: Any, levels: Any
    ) -> dict[str, Any]:
        """Forward kwargs that carry the pooled visual embeddings: ``inputs_embeds`` of the
        pooled sequence ``new_ids`` (n,) with ``visual`` (k, d) at ``visual_mask``. ``levels``
        (pooled ``VisualFeatures.levels``, each (k, d')) must be consumed by a family that has
        them (Qwen3-VL overrides this to hand them to the model's DeepStack)."""
        if len(levels):
            raise UnsupportedModelError(
                f"family {self.family!r} has extra visual feature levels but no way to pass them"
            )
        embeds = loaded.model.get_input_embeddings()(new_ids[None]).clone()  # (1, n, d)
        embeds[0, visual_mask] = visual.to(embeds.dtype)
        return {"inputs_embeds": embeds}

    def pooled_kwargs(self, loaded: Loaded, inputs: Any, keep: Any, layout: Any) -> dict[str, Any]:
        """Extra forward kwargs of the pooled sequence (``keep``: which input tokens stayed)."""
        return {}

    # ---- planner -------------------------------------------------------------------------------
    def pooled_visual_tokens(
        self, config: Any, inputs: Any, frames: int, visual: int, pooler: Any
    ) -> int:
        """Visual tokens after ``pooler``, from processor outputs alone (no weights): square
        per-frame grids of ``visual // frames`` tokens."""
        from vlmctx.pooling import pooled_token_count

        side = int(round((visual // frames) ** 0.5))
        return pooled_token_count(pooler, frames, side, side)

    def fixed_state_bytes(self, text_config: Any, dtype_bytes: int) -> int:
        """Bytes of per-sequence state whose size does not grow with the tokens (batch 1): the
        planner adds it beside the per-token KV cache. Zero for pure-attention families; a
        hybrid language model (Qwen3.5's Gated DeltaNet layers) overrides this."""
        return 0


def token_counter(loaded: Loaded) -> Any:
    """Tokens of a text under this model's tokenizer (no special tokens)."""
    tok = getattr(loaded.processor, "tokenizer", loaded.processor)
    return lambda text: len(tok(text, add_special_tokens=False)["input_ids"])


_SEQUENCE_KEYS = ("input_ids", "attention_mask", "mm_token_type_ids", "token_type_ids")


def _spliced(inputs: Any, inserts: list[tuple[int, list[int]]]) -> Any:
    """One-row processor outputs with text token ids inserted at token indices (in order): the
    per-token tensors grow (inserted tokens are attended text), everything else is kept."""
    import torch
    from transformers import BatchFeature

    ids = inputs["input_ids"]
    if ids.shape[0] != 1:
        raise UnsupportedModelError("interleaved subtitles need one sequence at a time")
    n = int(ids.shape[1])
    data = dict(inputs)
    for key in _SEQUENCE_KEYS:
        value = inputs.get(key)
        if value is None or value.ndim != 2 or value.shape[1] != n:
            continue
        parts, cursor = [], 0
        for at, new_ids in inserts:
            parts.append(value[:, cursor:at])
            if key == "input_ids":
                fill = list(new_ids)
            else:  # attended (mask 1), text (token type 0)
                fill = [int(key == "attention_mask")] * len(new_ids)
            parts.append(torch.tensor([fill], dtype=value.dtype))  # (1, k)
            cursor = at
        parts.append(value[:, cursor:])
        data[key] = torch.cat(parts, dim=1)  # (1, n + inserted)
    return BatchFeature(data=data)


def _attr_path(obj: Any, path: str) -> Any:
    for name in path.split("."):
        obj = getattr(obj, name, None)
        if obj is None:
            return None
    return obj


ADAPTERS: Registry[Adapter] = Registry("model family")
SETTINGS_FILE = "vlmctx.json"
# Checkpoints shipped inside the package, loadable by name with no download.
SHIPPED: dict[str, Path] = {"toylab": Path(__file__).parent / "checkpoints" / "toylab"}


def resolve_source(model: str) -> str:
    """The id or folder ``from_pretrained`` should load for ``model``: a tiny model's generated
    folder, a shape-true model's generated folder, a shipped checkpoint's folder, or ``model``
    itself (hub id or local folder)."""
    from vlmctx.models.tiny import is_shape, shape_path

    if is_shape(model):  # shape-true test model of an architecture card, built locally
        return str(shape_path(model))
    from vlmctx.models.tiny import is_tiny, tiny_names, tiny_path

    if is_tiny(model):
        if model not in tiny_names():
            from vlmctx.registry import did_you_mean

            raise UnsupportedModelError(
                f"no tiny model {model!r}{did_you_mean(model, tiny_names())}; known: "
                f"{', '.join(tiny_names())}"
            )
        return str(tiny_path(model))
    if model in SHIPPED:
        path = SHIPPED[model]
        if not (path / "config.json").is_file():
            raise ModelLoadError(
                f"the shipped {model!r} checkpoint is missing from {path}; reinstall vlmctx or "
                "retrain it with `vlmctx toylab train -o " + str(path) + "`"
            )
        return str(path)
    path = Path(model).expanduser()
    if path.is_file():
        raise ModelLoadError(f"--model {model!r} is a file; give a checkpoint folder or a hub id")
    if path.is_dir() and not (path / "config.json").is_file():
        raise ModelLoadError(
            f"--model {model!r} has no config.json: not a checkpoint folder "
            "(save one with save_pretrained, or give a hub id)"
        )
    if not path.exists() and (model.startswith((".", "/", "~")) or model.endswith("/")):
        raise ModelLoadError(f"model folder {model!r} not found")
    return model


def _load_hint(source: str, exc: Exception) -> str:
    offline = os.environ.get("HF_HUB_OFFLINE") == "1"
    where = "a local folder" if Path(source).exists() else "the Hugging Face hub"
    return (
        f"cannot load model {source!r} from {where}"
        f"{' (HF_HUB_OFFLINE=1)' if offline else ''}: {str(exc).splitlines()[0][:200]}. "
        "Without hub access, pass a local checkpoint folder, or try a tiny offline model such as "
        "--model tiny-qwen2_vl (random weights; `vlmctx ls` lists them)."
    )


def family_of(source: str) -> str:
    """The adapter family of a model id, local folder or ``tiny-<family>`` name."""
    from vlmctx.models.tiny import TINY_PREFIX, is_shape, shape_card

    if source.startswith(TINY_PREFIX):
        return source[len(TINY_PREFIX) :]
    if is_shape(source):
        return str(shape_card(source).family)
    model_type = _model_type(resolve_source(source))
    for entry in ADAPTERS:
        adapter = entry.factory()
        if model_type in adapter.model_types:
            return adapter.family
    raise UnsupportedModelError(
        f"model {source!r} has model_type {model_type!r}, which vlmctx has no adapter for; "
        f"supported families: {', '.join(ADAPTERS.names())}."
    )


def _model_type(source: str) -> str:
    from transformers import AutoConfig

    from vlmctx.models.hub import require_reachable

    require_reachable(source)  # offline: one line in well under a second, not 26 s of retries
    try:
        cfg = AutoConfig.from_pretrained(source)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(_load_hint(source, exc)) from exc
    return str(cfg.model_type)
