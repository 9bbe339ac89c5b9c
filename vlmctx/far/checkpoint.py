"""Save and load FAR weights as safetensors + a config json; shipped checkpoints by name.

A checkpoint folder holds ``model.safetensors`` and ``config.json`` (``{"model": FARConfig dict,
"data": ..., "train": ...}``) so every generated video can say which model made it. Shipped
checkpoints live in ``vlmctx/far/checkpoints/<name>/``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from safetensors.torch import load_file, save_file

from vlmctx.errors import ModelLoadError, UnsupportedModelError
from vlmctx.far.config import FARConfig
from vlmctx.far.model import FARModel

log = logging.getLogger(__name__)
SHIPPED_DIR = Path(__file__).parent / "checkpoints"


def shipped_models() -> list[str]:
    """Names of the checkpoints shipped with the package."""
    if not SHIPPED_DIR.is_dir():
        return []
    return sorted(p.name for p in SHIPPED_DIR.iterdir() if (p / "config.json").is_file())


def save_checkpoint(model: FARModel, folder: str | Path, meta: dict | None = None) -> Path:
    """Write ``model.safetensors`` and ``config.json`` (model config + ``meta``) into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, str(folder / "model.safetensors"))
    info = {"model": model.cfg.to_dict(), **(meta or {})}
    (folder / "config.json").write_text(json.dumps(info, indent=2) + "\n")
    return folder


def resolve(name_or_path: str | Path) -> Path:
    """A shipped model name or a checkpoint folder -> the folder; raise if neither."""
    p = Path(name_or_path)
    if (p / "config.json").is_file():
        return p
    if str(name_or_path) in shipped_models():
        return SHIPPED_DIR / str(name_or_path)
    raise UnsupportedModelError(
        f"unknown FAR model {str(name_or_path)!r}: not a shipped name ({shipped_models()}) nor "
        "a folder with config.json + model.safetensors (train one with `vlmctx train-far`)"
    )


def load_model(name_or_path: str | Path, device: str = "cpu") -> tuple[FARModel, dict]:
    """Load a FAR model in eval mode and its config.json contents."""
    folder = resolve(name_or_path)
    try:
        info = json.loads((folder / "config.json").read_text())
        model = FARModel(FARConfig.from_dict(info["model"]))
        model.load_state_dict(load_file(str(folder / "model.safetensors"), device=device))
    except (OSError, KeyError, RuntimeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"cannot load FAR checkpoint from {folder}: {exc}") from exc
    return model.to(device).eval(), info
