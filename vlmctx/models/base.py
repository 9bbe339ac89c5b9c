"""What every model adapter shares: loading by id/path/tiny name, prompt building, token counting.

An adapter knows one Hugging Face family: which ``model_type`` values it handles, where its visual
tokens are in ``input_ids``, and how timestamps reach the model (Qwen2.5-VL's time-aligned M-RoPE
through the processor's ``second_per_grid_ts``; a text time prefix for the others). Real checkpoints
and the ``tiny-*`` ones load through the same ``from_pretrained`` calls.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
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
    """A model with its processor, ready for ``generate``."""

    model: Any
    processor: Any
    adapter: Adapter
    source: str  # the id or path it was loaded from


class Adapter:
    """Base adapter; subclasses set the class attributes and override hooks where they differ."""

    family: str = ""
    model_types: tuple[str, ...] = ()
    default_checkpoint: str = ""
    time_prefix: bool = True  # write frame timestamps into the prompt text
    mrope: bool = False  # 3-axis (t, h, w) rotary positions
    visual_window: int | None = None  # visual tokens of the longest training video, if declared

    # ---- loading ---------------------------------------------------------------------------
    def load(self, source: str, device: str, dtype: Any) -> Loaded:
        """Load model + processor from a hub id or a local folder (no download if offline)."""
        from transformers import AutoModelForImageTextToText, AutoProcessor

        try:
            processor = AutoProcessor.from_pretrained(source)
            model = AutoModelForImageTextToText.from_pretrained(source, dtype=dtype)
        except OSError as exc:
            raise ModelLoadError(_load_hint(source, exc)) from exc
        model.to(device).eval()
        self.prepare_processor(processor)
        self.configure(source)
        return Loaded(model, processor, self, source)

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

    # ---- prompts -----------------------------------------------------------------------------
    def time_text(self, frames: Frames) -> str:
        """LLaVA-Video style time instruction: the video's length and each frame's timestamp."""
        stamps = ",".join(f"{t:.2f}s" for t in frames.pts_s)
        return (
            f"The video lasts for {frames.info.duration_s:.2f} seconds, and {len(frames)} frames "
            f"are sampled from it. These frames are located at {stamps}. "
            "Please answer the following questions related to this video.\n"
        )

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
        return {"video_metadata": [meta], "do_sample_frames": False}

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

    # ---- token accounting ----------------------------------------------------------------------
    def visual_token_ids(self, loaded: Loaded) -> list[int]:
        """Ids of the placeholder tokens that the model replaces with visual embeddings."""
        tok = loaded.processor.tokenizer
        return [tok.convert_tokens_to_ids(t) for t in self.visual_tokens(loaded)]

    def visual_tokens(self, loaded: Loaded) -> list[str]:
        proc = loaded.processor
        return [proc.image_token, proc.video_token]

    def count_visual(self, loaded: Loaded, input_ids: Any) -> int:
        ids = self.visual_token_ids(loaded)
        return int(np.isin(np.asarray(input_ids.cpu()), ids).sum())

    def vision_module(self, model: Any) -> Any:
        """The vision tower, timed as the 'encode' stage."""
        inner = getattr(model, "model", model)
        for name in ("visual", "vision_tower"):
            if hasattr(inner, name):
                return getattr(inner, name)
        return None


ADAPTERS: Registry[Adapter] = Registry("model family")
SETTINGS_FILE = "vlmctx.json"
# Checkpoints shipped inside the package, loadable by name with no download.
SHIPPED: dict[str, Path] = {"toylab": Path(__file__).parent / "checkpoints" / "toylab"}


def resolve_source(model: str) -> str:
    """The id or folder ``from_pretrained`` should load for ``model``: a tiny model's generated
    folder, a shipped checkpoint's folder, or ``model`` itself (hub id or local folder)."""
    from vlmctx.models.tiny import is_tiny, tiny_path

    if is_tiny(model):
        return str(tiny_path(model))
    if model in SHIPPED:
        path = SHIPPED[model]
        if not (path / "config.json").is_file():
            raise ModelLoadError(
                f"the shipped {model!r} checkpoint is missing from {path}; reinstall vlmctx or "
                "retrain it with `vlmctx toylab train`"
            )
        return str(path)
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
    from vlmctx.models.tiny import TINY_PREFIX

    if source.startswith(TINY_PREFIX):
        return source[len(TINY_PREFIX) :]
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

    try:
        cfg = AutoConfig.from_pretrained(source)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(_load_hint(source, exc)) from exc
    return str(cfg.model_type)
