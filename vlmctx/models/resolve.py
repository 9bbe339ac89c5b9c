"""From a ``--model`` name to what ``from_pretrained`` loads and the adapter family that runs it:
``tiny-<family>`` and ``shape-<card>`` test models built locally, shipped checkpoints, local
folders and hub ids (a hub id is checked reachable first, fast)."""

from __future__ import annotations

from pathlib import Path

from vlmctx.errors import ModelLoadError, UnsupportedModelError
from vlmctx.models.contract import ADAPTERS
from vlmctx.models.hub import require_reachable
from vlmctx.models.names import SHIPPED, TINY_PREFIX, is_shape, is_tiny, load_hint
from vlmctx.models.tiny import shape_card, shape_path, tiny_names, tiny_path
from vlmctx.registry import did_you_mean


def resolve_source(model: str) -> str:
    """The id or folder ``from_pretrained`` should load for ``model``: a tiny model's generated
    folder, a shape-true model's generated folder, a shipped checkpoint's folder, or ``model``
    itself (hub id or local folder)."""
    if is_shape(model):  # shape-true test model of an architecture card, built locally
        return str(shape_path(model))
    if is_tiny(model):
        if model not in tiny_names():
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


def family_of(source: str) -> str:
    """The adapter family of a model id, local folder or ``tiny-<family>`` name."""
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

    require_reachable(source)  # offline: one line in well under a second, not 26 s of retries
    try:
        cfg = AutoConfig.from_pretrained(source)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(load_hint(source, exc)) from exc
    return str(cfg.model_type)


def default_chunk_frames(model: str) -> int:
    """Frames per streaming chunk for ``model`` (its checkpoint's ``vlmctx.json``, else the
    family's default; :class:`~vlmctx.models.contract.CheckpointSettings`), read without loading
    weights."""
    source = resolve_source(model)
    adapter = ADAPTERS.create(family_of(model))
    adapter.configure(source)
    return adapter.settings.chunk_frames
